#include "tests/rpc/rpc_calls.h"

#include <random>

namespace mamba::rpctest {

std::chrono::system_clock::time_point deadlineIn(std::chrono::milliseconds timeout) {
  return std::chrono::system_clock::now() + timeout;
}

pb::GenerateRequest greedyRequest(const std::vector<int32_t>& prompt, int32_t maxNewTokens) {
  pb::GenerateRequest req;
  req.mutable_prompt_tokens()->mutable_ids()->Assign(prompt.begin(), prompt.end());
  req.mutable_sampling()->set_temperature(0.0f);
  req.set_max_new_tokens(maxNewTokens);
  req.set_ignore_eos(true);
  return req;
}

std::vector<int32_t> promptIds(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(1, 255);
  std::vector<int32_t> out(n);
  for (auto& t : out) t = id(rng);
  return out;
}

StreamResult runStream(pb::Inference::Stub& stub, const pb::GenerateRequest& request,
                       std::chrono::milliseconds timeout) {
  StreamResult r;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(timeout));
  auto reader = stub.GenerateStream(&ctx, request);
  pb::GenerateStreamResponse msg;
  while (reader->Read(&msg)) {
    if (r.final) r.finalWasLast = false;
    if (msg.has_chunk()) {
      ++r.chunks;
      r.tokens.insert(r.tokens.end(), msg.chunk().token_ids().begin(), msg.chunk().token_ids().end());
      r.text += msg.chunk().text();
      r.textDeltas.push_back(msg.chunk().text());
      for (const auto& lp : msg.chunk().logprobs()) r.logprobs.push_back(lp);
    } else if (msg.has_final()) {
      r.final = msg.final();
    }
  }
  r.status = reader->Finish();
  return r;
}

UnaryResult runUnary(pb::Inference::Stub& stub, const pb::GenerateRequest& request,
                     std::chrono::milliseconds timeout) {
  UnaryResult r;
  grpc::ClientContext ctx;
  ctx.set_deadline(deadlineIn(timeout));
  r.status = stub.Generate(&ctx, request, &r.response);
  return r;
}

bool isValidUtf8(const std::string& s) {
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    const unsigned c = p[i];
    size_t len = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace mamba::rpctest
