#include "server/engine/model_backend.h"

#include <algorithm>

namespace mamba {
namespace {

// Runs `call` with every row asking for its full logits and copies them into *logits.
template <typename Call>
Status allLogits(size_t rows, int64_t vocab, std::vector<float>* logits, Call&& call) {
  std::vector<RowOutput> kinds(logits ? rows : 0, RowOutput::kLogits);
  StepOutputs out;
  MAMBA_RETURN_IF_ERROR(call(RowRequest{kinds, 0}, logits ? &out : nullptr));
  if (logits) {
    if (out.logits.size() != rows * static_cast<size_t>(vocab)) {
      return internalError("the backend returned " + std::to_string(out.logits.size()) + " logits for " +
                           std::to_string(rows) + " rows of " + std::to_string(vocab));
    }
    logits->assign(out.logits.begin(), out.logits.end());
  }
  return Status::ok();
}

}  // namespace

Status ModelBackend::prefillLogits(std::span<const PrefillItem> items, std::vector<float>* lastLogits) {
  return allLogits(items.size(), info().vocabSize, lastLogits,
                   [&](const RowRequest& r, StepOutputs* out) { return prefill(items, r, out); });
}

Status ModelBackend::decodeLogits(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                                  std::vector<float>* logits) {
  return allLogits(tokens.size(), info().vocabSize, logits,
                   [&](const RowRequest& r, StepOutputs* out) { return decode(tokens, slots, r, out); });
}

Status ModelBackend::checkRowRequest(const RowRequest& request, size_t rows, const StepOutputs* out) const {
  if (request.rows.empty()) return Status::ok();
  if (request.rows.size() != rows) {
    return invalidArgument("the output request has " + std::to_string(request.rows.size()) + " rows for " +
                           std::to_string(rows) + " inputs");
  }
  if (request.greedyVocab < 0 || request.greedyVocab > info().vocabSize) {
    return invalidArgument("greedy_vocab " + std::to_string(request.greedyVocab) + " out of range [0, " +
                           std::to_string(info().vocabSize) + "]");
  }
  const bool any = std::any_of(request.rows.begin(), request.rows.end(),
                               [](RowOutput r) { return r != RowOutput::kNone; });
  if (any && !out) return invalidArgument("outputs requested without a place to put them");
  return Status::ok();
}

}  // namespace mamba
