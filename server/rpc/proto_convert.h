// Conversions between the public protobuf messages (mamba.serving.v1) and the engine's plain
// types. Checks what only the protobuf shape can get wrong (a missing oneof, mutually
// exclusive fields); the engine validates values. Errors are INVALID_ARGUMENT naming the
// protobuf field.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "mamba/serving/v1/inference.pb.h"
#include "server/common/status.h"
#include "server/engine/engine.h"

namespace mamba::rpc {

namespace pb = ::mamba::serving::v1;

using Deadline = std::optional<std::chrono::steady_clock::time_point>;

// The gRPC deadline (system clock; time_point::max() when none) on the steady clock.
Deadline steadyDeadline(std::chrono::system_clock::time_point deadline);

StatusOr<GenerateRequest> fromProto(const pb::GenerateRequest& request, Deadline deadline);
StatusOr<ScoreRequest> fromProto(const pb::ScoreRequest& request, Deadline deadline);

pb::FinishReason toProto(FinishReason reason);
void toProto(const RequestTiming& timing, pb::Timing* out);
void toProto(const TokenEvent& event, pb::TokenLogprob* out);
// Fills everything but logprobs (collected from the token events).
void toProto(const GenerateResult& result, pb::GenerateResponse* out);
void toProto(const GenerateResult& result, pb::GenerateFinal* out);
void toProto(const ScoreResult& result, pb::ScoreResponse* out);
void toProto(const ModelInfo& info, pb::ModelVariant* out);
// Groups the engine's (model, variant) entries by model name, in order.
void toProto(const std::vector<ModelInfo>& models, const std::string& defaultModel,
             pb::ListModelsResponse* out);

// Rewrites the engine's field paths in an INVALID_ARGUMENT message to the request's own
// ("sampling.max_new_tokens ..." -> "max_new_tokens ...", "sampling.logprobs" ->
// "top_logprobs"), so that every message names a field of the RPC's request.
Status toApiFieldNames(const Status& status);

// The status a finished generation reports to its client: result.status, or, when that is OK
// but the finish reason says otherwise, CANCELLED / DEADLINE_EXCEEDED / INTERNAL.
Status finalStatus(const GenerateResult& result);

}  // namespace mamba::rpc
