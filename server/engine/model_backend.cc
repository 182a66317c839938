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

Status ModelBackend::decodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                                 const RowRequest& request) {
  MAMBA_RETURN_IF_ERROR(checkDecodeStart(inputs, slots, request, kept_.size(),
                                         kept_.empty() ? std::span<const RowOutput>() : kept_.back().rows));
  std::vector<int32_t> tokens(inputs.size());
  for (size_t b = 0; b < inputs.size(); ++b) {
    const DecodeInput& in = inputs[b];
    tokens[b] = in.previousRow < 0 ? in.token : kept_.back().greedy[static_cast<size_t>(in.previousRow)].token;
  }
  KeptStep step;
  step.rows.assign(request.rows.begin(), request.rows.end());
  StepOutputs out;
  MAMBA_RETURN_IF_ERROR(decode(tokens, slots, RowRequest{step.rows, request.greedyVocab}, &out));
  // Copies: out.logits is backend memory that the next call may overwrite.
  step.greedy = std::move(out.greedy);
  step.logits.assign(out.logits.begin(), out.logits.end());
  kept_.push_back(std::move(step));
  return Status::ok();
}

Status ModelBackend::decodeFinish(StepOutputs* out) {
  if (kept_.empty()) return failedPrecondition("no decode step is in flight");
  KeptStep step = std::move(kept_.front());
  kept_.pop_front();
  if (!out) return Status::ok();
  finishedLogits_ = std::move(step.logits);
  out->greedy = std::move(step.greedy);
  out->greedy.resize(step.rows.size());
  out->logits = finishedLogits_;
  return Status::ok();
}

Status ModelBackend::checkDecodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                                      const RowRequest& request, size_t inFlight,
                                      std::span<const RowOutput> previousRows) const {
  if (inputs.size() != slots.size() || inputs.empty()) return invalidArgument("decode needs one slot per token");
  if (inFlight >= 2) return failedPrecondition("two decode steps are in flight already: finish one first");
  MAMBA_RETURN_IF_ERROR(checkRowShape(request, inputs.size()));
  for (size_t b = 0; b < inputs.size(); ++b) {
    const int32_t j = inputs[b].previousRow;
    if (j < 0) continue;
    if (inFlight == 0) {
      return invalidArgument("row " + std::to_string(b) + " takes its token from the previous step, but none is in flight");
    }
    if (static_cast<size_t>(j) >= previousRows.size() || previousRows[static_cast<size_t>(j)] != RowOutput::kGreedy) {
      return invalidArgument("row " + std::to_string(b) + " takes its token from row " + std::to_string(j) +
                             " of the previous step, which has no greedy pick");
    }
  }
  return Status::ok();
}

Status ModelBackend::checkRowRequest(const RowRequest& request, size_t rows, const StepOutputs* out) const {
  MAMBA_RETURN_IF_ERROR(checkRowShape(request, rows));
  const bool any = std::any_of(request.rows.begin(), request.rows.end(),
                               [](RowOutput r) { return r != RowOutput::kNone; });
  if (any && !out) return invalidArgument("outputs requested without a place to put them");
  return Status::ok();
}

Status ModelBackend::checkRowShape(const RowRequest& request, size_t rows) const {
  if (request.rows.empty()) return Status::ok();
  if (request.rows.size() != rows) {
    return invalidArgument("the output request has " + std::to_string(request.rows.size()) + " rows for " +
                           std::to_string(rows) + " inputs");
  }
  if (request.greedyVocab < 0 || request.greedyVocab > info().vocabSize) {
    return invalidArgument("greedy_vocab " + std::to_string(request.greedyVocab) + " out of range [0, " +
                           std::to_string(info().vocabSize) + "]");
  }
  return Status::ok();
}

}  // namespace mamba
