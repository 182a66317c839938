#include "tests/rpc/rpc_calls.h"

#include <random>

#include "server/common/utf8.h"

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

bool isValidUtf8(const std::string& s) { return ::mamba::utf8::isValid(s); }

}  // namespace mamba::rpctest
