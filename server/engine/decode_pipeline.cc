#include "server/engine/decode_pipeline.h"

#include <algorithm>

namespace mamba {

DecodePipeline::DecodePipeline(ModelBackend& backend)
    : backend_(backend), pendingRow_(static_cast<size_t>(std::max<int64_t>(backend.info().numSlots, 0)), -1) {}

int32_t DecodePipeline::pendingRow(int32_t slot) const {
  if (slot < 0 || static_cast<size_t>(slot) >= pendingRow_.size()) return -1;
  return pendingRow_[static_cast<size_t>(slot)];
}

Status DecodePipeline::start(std::vector<GenerationSequence*> seqs, std::span<const DecodeInput> inputs,
                             int32_t greedyVocab) {
  slots_.clear();
  for (const GenerationSequence* g : seqs) slots_.push_back(g->slot());
  rows_.assign(seqs.size(), RowOutput::kGreedy);
  Step step;
  step.started = SteadyClock::now();
  MAMBA_RETURN_IF_ERROR(backend_.decodeStart(inputs, slots_, RowRequest{rows_, greedyVocab}));
  if (!steps_.empty()) {
    for (int32_t s : steps_.back().slots) pendingRow_[static_cast<size_t>(s)] = -1;
  }
  for (size_t k = 0; k < slots_.size(); ++k) pendingRow_[static_cast<size_t>(slots_[k])] = static_cast<int32_t>(k);
  step.seqs = std::move(seqs);
  step.slots = slots_;
  steps_.push_back(std::move(step));
  return Status::ok();
}

DecodePipeline::Finished DecodePipeline::finish(StepOutputs* out) {
  Step step = std::move(steps_.front());
  steps_.pop_front();
  Finished f;
  f.status = backend_.decodeFinish(out);
  f.started = step.started;
  f.previousDone = lastDone_;
  lastDone_ = SteadyClock::now();
  if (steps_.empty()) {
    for (int32_t s : step.slots) pendingRow_[static_cast<size_t>(s)] = -1;
  }
  for (int32_t s : step.heldSlots) backend_.releaseSlot(s);
  f.seqs = std::move(step.seqs);
  return f;
}

bool DecodePipeline::newestHasLiveRows() const {
  if (steps_.empty()) return false;
  const auto& seqs = steps_.back().seqs;
  return std::any_of(seqs.begin(), seqs.end(), [](const GenerationSequence* g) { return g && !g->finished(); });
}

void DecodePipeline::releaseSlot(int32_t slot) {
  Step* holder = nullptr;  // the newest step that advances the slot
  for (Step& step : steps_) {
    for (size_t k = 0; k < step.slots.size(); ++k) {
      if (step.slots[k] != slot || !step.seqs[k]) continue;
      step.seqs[k] = nullptr;
      holder = &step;
    }
  }
  if (slot >= 0 && static_cast<size_t>(slot) < pendingRow_.size()) pendingRow_[static_cast<size_t>(slot)] = -1;
  if (holder) {
    holder->heldSlots.push_back(slot);
  } else {
    backend_.releaseSlot(slot);
  }
}

}  // namespace mamba
