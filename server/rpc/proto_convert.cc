#include "server/rpc/proto_convert.h"

#include <algorithm>
#include <string>
#include <utility>

namespace mamba::rpc {

Deadline steadyDeadline(std::chrono::system_clock::time_point deadline) {
  using namespace std::chrono;
  if (deadline == system_clock::time_point::max()) return std::nullopt;
  const auto remaining = deadline - system_clock::now();
  // Clamp absurdly far deadlines (no overflow on the steady clock).
  const auto capped = std::min<system_clock::duration>(remaining, hours(24 * 365));
  return steady_clock::now() + duration_cast<steady_clock::duration>(capped);
}

StatusOr<GenerateRequest> fromProto(const pb::GenerateRequest& request, Deadline deadline) {
  GenerateRequest out;
  out.model = request.model();
  out.variant = request.variant();
  switch (request.prompt_case()) {
    case pb::GenerateRequest::kPromptText:
      if (request.prompt_text().empty()) return invalidArgument("prompt_text must not be empty");
      out.promptText = request.prompt_text();
      break;
    case pb::GenerateRequest::kPromptTokens:
      if (request.prompt_tokens().ids_size() == 0) {
        return invalidArgument("prompt_tokens must contain at least one token");
      }
      out.promptTokens.assign(request.prompt_tokens().ids().begin(),
                              request.prompt_tokens().ids().end());
      break;
    case pb::GenerateRequest::PROMPT_NOT_SET:
      return invalidArgument("prompt: one of prompt_text or prompt_tokens is required");
  }
  SamplingParams& s = out.sampling;
  const pb::SamplingParams& in = request.sampling();
  if (in.has_temperature()) s.temperature = in.temperature();
  if (in.has_top_k()) s.topK = in.top_k();
  if (in.has_top_p()) s.topP = in.top_p();
  if (in.has_min_p()) s.minP = in.min_p();
  if (in.has_repetition_penalty()) s.repetitionPenalty = in.repetition_penalty();
  if (in.has_seed()) s.seed = in.seed();
  if (request.has_max_new_tokens()) s.maxNewTokens = request.max_new_tokens();
  s.stopStrings.assign(request.stop_strings().begin(), request.stop_strings().end());
  s.stopTokenIds.assign(request.stop_token_ids().begin(), request.stop_token_ids().end());
  s.ignoreEos = request.ignore_eos();
  if (request.top_logprobs() < 0 || request.top_logprobs() > kMaxLogprobs) {
    return invalidArgument("top_logprobs must be in [0, " + std::to_string(kMaxLogprobs) +
                           "], got " + std::to_string(request.top_logprobs()));
  }
  if (request.top_logprobs() > 0 && !request.logprobs()) {
    return invalidArgument("top_logprobs requires logprobs: true");
  }
  s.logprobs = request.top_logprobs();
  out.deadline = deadline;
  return out;
}

StatusOr<ScoreRequest> fromProto(const pb::ScoreRequest& request, Deadline deadline) {
  ScoreRequest out;
  out.model = request.model();
  out.variant = request.variant();
  switch (request.context_case()) {
    case pb::ScoreRequest::kContextText:
      out.context = request.context_text();
      break;
    case pb::ScoreRequest::kContextTokens:
      if (request.context_tokens().ids_size() == 0) {
        return invalidArgument("context_tokens must contain at least one token");
      }
      out.contextTokens.assign(request.context_tokens().ids().begin(),
                               request.context_tokens().ids().end());
      break;
    case pb::ScoreRequest::CONTEXT_NOT_SET:
      return invalidArgument("context: one of context_text or context_tokens is required");
  }
  const bool haveText = request.continuations_size() > 0;
  const bool haveTokens = request.continuation_tokens_size() > 0;
  if (haveText == haveTokens) {
    return invalidArgument(haveText
        ? "continuations: give continuations or continuation_tokens, not both"
        : "continuations: at least one continuation (continuations or continuation_tokens) "
          "is required");
  }
  out.continuations.assign(request.continuations().begin(), request.continuations().end());
  for (int i = 0; i < request.continuation_tokens_size(); ++i) {
    const auto& ids = request.continuation_tokens(i).ids();
    if (ids.empty()) {
      return invalidArgument("continuation_tokens[" + std::to_string(i) +
                             "] must contain at least one token");
    }
    out.continuationTokens.emplace_back(ids.begin(), ids.end());
  }
  out.deadline = deadline;
  return out;
}

pb::FinishReason toProto(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return pb::FINISH_REASON_LENGTH;
    case FinishReason::kStop: return pb::FINISH_REASON_STOP;
    case FinishReason::kStopString: return pb::FINISH_REASON_STOP_STRING;
    case FinishReason::kCancelled: return pb::FINISH_REASON_CANCELLED;
    case FinishReason::kDeadline: return pb::FINISH_REASON_DEADLINE;
    case FinishReason::kError: return pb::FINISH_REASON_ERROR;
  }
  return pb::FINISH_REASON_UNSPECIFIED;
}

void toProto(const RequestTiming& t, pb::Timing* out) {
  out->set_queue_seconds(t.queueSeconds);
  out->set_prefill_seconds(t.prefillSeconds);
  out->set_ttft_seconds(t.ttftSeconds);
  out->set_decode_seconds(t.decodeSeconds);
  out->set_mean_tpot_seconds(t.meanTpotSeconds);
  out->set_e2e_seconds(t.e2eSeconds);
  out->set_prompt_tokens(t.promptTokens);
  out->set_generated_tokens(t.generatedTokens);
}

void toProto(const TokenEvent& event, pb::TokenLogprob* out) {
  out->set_token_id(event.token);
  out->set_logprob(event.logprob);
  for (const auto& [token, logprob] : event.topLogprobs) {
    pb::TopLogprob* top = out->add_top();
    top->set_token_id(token);
    top->set_logprob(logprob);
  }
}

void toProto(const GenerateResult& result, pb::GenerateResponse* out) {
  out->set_text(result.text);
  out->mutable_token_ids()->Assign(result.tokens.begin(), result.tokens.end());
  out->set_finish_reason(toProto(result.finishReason));
  toProto(result.timing, out->mutable_timing());
  out->set_model(result.model);
  out->set_variant(result.variant);
}

void toProto(const GenerateResult& result, pb::GenerateFinal* out) {
  out->set_finish_reason(toProto(result.finishReason));
  toProto(result.timing, out->mutable_timing());
  out->set_model(result.model);
  out->set_variant(result.variant);
}

void toProto(const ScoreResult& result, pb::ScoreResponse* out) {
  for (const ContinuationScore& s : result.scores) {
    pb::ContinuationScore* score = out->add_scores();
    score->set_logprob(s.logprob);
    score->set_is_greedy(s.isGreedy);
    score->set_num_tokens(s.numTokens);
    score->set_num_bytes(s.numBytes);
  }
  out->set_model(result.model);
  out->set_variant(result.variant);
}

void toProto(const ModelInfo& info, pb::ModelVariant* v) {
  v->set_variant(info.variant);
  v->set_path(info.path);
  v->set_dtype(info.dtype);
  v->set_state_dtype(info.stateDtype);
  v->set_device(info.device);
  v->set_n_layer(info.nLayer);
  v->set_d_model(info.dModel);
  v->mutable_state_sizes()->Assign(info.stateSizes.begin(), info.stateSizes.end());
  v->set_vocab_size(info.vocabSize);
  v->set_parameter_count(info.parameterCount);
  v->set_state_bytes_per_sequence(info.stateBytesPerSequence);
  v->set_num_slots(info.numSlots);
  v->mutable_eos_token_ids()->Assign(info.eosTokenIds.begin(), info.eosTokenIds.end());
}

void toProto(const std::vector<ModelInfo>& models, const std::string& defaultModel,
             pb::ListModelsResponse* out) {
  for (const ModelInfo& info : models) {
    pb::Model* model = nullptr;
    for (auto& m : *out->mutable_models()) {
      if (m.name() == info.name) model = &m;
    }
    if (model == nullptr) {
      model = out->add_models();
      model->set_name(info.name);
    }
    toProto(info, model->add_variants());
  }
  std::string defaultName = defaultModel;
  if (defaultName.empty() && out->models_size() > 0) defaultName = out->models(0).name();
  out->set_default_model(defaultName);
}

Status toApiFieldNames(const Status& status) {
  if (status.code() != StatusCode::kInvalidArgument) return status;
  // Engine path -> request field: these sampling fields are top-level in GenerateRequest.
  static const std::pair<const char*, const char*> kRenames[] = {
      {"sampling.max_new_tokens", "max_new_tokens"},
      {"sampling.stop_strings", "stop_strings"},
      {"sampling.stop_token_ids", "stop_token_ids"},
      {"sampling.ignore_eos", "ignore_eos"},
      {"sampling.logprobs", "top_logprobs"},
  };
  const std::string& m = status.message();
  for (const auto& [from, to] : kRenames) {
    const size_t n = std::char_traits<char>::length(from);
    if (m.compare(0, n, from) == 0) return Status(status.code(), to + m.substr(n));
  }
  return status;
}

Status finalStatus(const GenerateResult& result) {
  if (!result.status.isOk()) return result.status;
  switch (result.finishReason) {
    case FinishReason::kCancelled: return cancelled("request cancelled");
    case FinishReason::kDeadline: return deadlineExceeded("deadline exceeded");
    case FinishReason::kError: return internalError("generation failed");
    default: return Status::ok();
  }
}

}  // namespace mamba::rpc
