#include <chrono>
#include <cstdio>
#include <iostream>

#include "client/call_deadline.h"
#include "client/cli_error.h"
#include "client/commands.h"
#include "mamba/serving/v1/inference.grpc.pb.h"

namespace mamba::client {
namespace {

namespace pb = ::mamba::serving::v1;

const char* finishName(pb::FinishReason r) {
  switch (r) {
    case pb::FINISH_REASON_LENGTH: return "length";
    case pb::FINISH_REASON_STOP: return "stop";
    case pb::FINISH_REASON_STOP_STRING: return "stop_string";
    case pb::FINISH_REASON_CANCELLED: return "cancelled";
    case pb::FINISH_REASON_DEADLINE: return "deadline";
    case pb::FINISH_REASON_ERROR: return "error";
    default: return "unspecified";
  }
}

pb::GenerateRequest buildRequest(const GenerateOptions& o) {
  pb::GenerateRequest req;
  req.set_model(o.model);
  req.set_variant(o.variant);
  if (!o.promptTokens.empty()) {
    req.mutable_prompt_tokens()->mutable_ids()->Assign(o.promptTokens.begin(), o.promptTokens.end());
  } else {
    req.set_prompt_text(o.prompt);
  }
  auto* s = req.mutable_sampling();
  if (o.temperature) s->set_temperature(*o.temperature);
  if (o.topK) s->set_top_k(*o.topK);
  if (o.topP) s->set_top_p(*o.topP);
  if (o.minP) s->set_min_p(*o.minP);
  if (o.repetitionPenalty) s->set_repetition_penalty(*o.repetitionPenalty);
  if (o.seed) s->set_seed(*o.seed);
  if (o.maxNewTokens) req.set_max_new_tokens(*o.maxNewTokens);
  for (const auto& stop : o.stop) req.add_stop_strings(stop);
  for (int32_t id : o.stopTokenIds) req.add_stop_token_ids(id);
  req.set_ignore_eos(o.ignoreEos);
  if (o.logprobs >= 0) {
    req.set_logprobs(true);
    req.set_top_logprobs(o.logprobs);
  }
  return req;
}

void printLogprobs(const google::protobuf::RepeatedPtrField<pb::TokenLogprob>& logprobs) {
  for (const auto& lp : logprobs) {
    std::fprintf(stderr, "  token %d logprob %.4f", lp.token_id(), lp.logprob());
    for (const auto& top : lp.top()) std::fprintf(stderr, " [%d %.4f]", top.token_id(), top.logprob());
    std::fprintf(stderr, "\n");
  }
}

void printSummary(pb::FinishReason reason, const pb::Timing& t, const std::string& model,
                  const std::string& variant, double clientTtft) {
  std::fprintf(stderr,
               "[%s/%s finish=%s prompt=%lld generated=%lld ttft=%.1fms tpot=%.2fms e2e=%.1fms "
               "queue=%.2fms",
               model.c_str(), variant.c_str(), finishName(reason),
               static_cast<long long>(t.prompt_tokens()), static_cast<long long>(t.generated_tokens()),
               t.ttft_seconds() * 1e3, t.mean_tpot_seconds() * 1e3, t.e2e_seconds() * 1e3,
               t.queue_seconds() * 1e3);
  if (clientTtft >= 0) std::fprintf(stderr, " client_ttft=%.1fms", clientTtft * 1e3);
  std::fprintf(stderr, "]\n");
}

}  // namespace

int runGenerate(const std::shared_ptr<grpc::Channel>& channel, const GenerateOptions& o) {
  auto stub = pb::Inference::NewStub(channel);
  const pb::GenerateRequest req = buildRequest(o);
  grpc::ClientContext ctx;
  setTimeout(&ctx, o.timeoutSeconds);
  if (o.unary) {
    pb::GenerateResponse resp;
    grpc::Status s = stub->Generate(&ctx, req, &resp);
    if (!s.ok()) throw CliError("Generate: " + describe(s));
    std::cout << resp.text() << std::endl;
    if (o.logprobs >= 0) printLogprobs(resp.logprobs());
    if (!o.quiet) printSummary(resp.finish_reason(), resp.timing(), resp.model(), resp.variant(), -1);
    return 0;
  }
  const auto start = std::chrono::steady_clock::now();
  double clientTtft = -1;
  auto reader = stub->GenerateStream(&ctx, req);
  pb::GenerateStreamResponse msg;
  std::optional<pb::GenerateFinal> final;
  bool printed = false;
  while (reader->Read(&msg)) {
    if (msg.has_chunk()) {
      if (clientTtft < 0 && msg.chunk().token_ids_size() > 0) {
        clientTtft = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      std::cout << msg.chunk().text() << std::flush;
      printed = printed || !msg.chunk().text().empty();
      if (o.logprobs >= 0) printLogprobs(msg.chunk().logprobs());
    } else if (msg.has_final()) {
      final = msg.final();
    }
  }
  if (printed) std::cout << std::endl;
  grpc::Status s = reader->Finish();
  if (!s.ok()) throw CliError("GenerateStream: " + describe(s));
  if (final && !o.quiet) {
    printSummary(final->finish_reason(), final->timing(), final->model(), final->variant(), clientTtft);
  }
  return 0;
}

}  // namespace mamba::client
