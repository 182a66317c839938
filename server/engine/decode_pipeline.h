// The scheduler's greedy decode steps in flight (pipelined decode): which sequence each row
// advances, which slots the steps hold, and where a sequence's next input token is pending.
//
// The scheduler starts step i (ModelBackend::decodeStart) before it finishes step i-1, so
// that the device runs step i while the host handles step i-1's outputs; a row of step i whose
// sequence's latest token is still pending in step i-1 takes that token on the device
// (DecodeInput::fromPrevious). Every row of a pipelined step asks for RowOutput::kGreedy.
// At most two steps are in flight, and one between two scheduler iterations.
//
// Slots: a sequence that ends while a step in flight still advances it (it stopped on the
// previous step's token, or was cancelled) gives its slot back through releaseSlot(), which
// drops the sequence's rows from the steps in flight and hands the slot to the backend only
// once the last of those steps has finished, so that no other request's prefill can reuse the
// slot under a step still writing it.
//
// Threading: the scheduler thread only. Sequences are not owned; a sequence must stay alive
// while a step in flight names it, i.e. until releaseSlot() of its slot.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "server/common/status.h"
#include "server/engine/generation_sequence.h"
#include "server/engine/model_backend.h"

namespace mamba {

class DecodePipeline {
 public:
  // `backend` (not owned) must outlive the pipeline.
  explicit DecodePipeline(ModelBackend& backend);

  size_t inFlight() const { return steps_.size(); }

  // The row of the newest step in flight that computes the next token of the sequence in
  // `slot`, or -1 when none does (its latest token is on the host).
  int32_t pendingRow(int32_t slot) const;

  // Starts a step whose row k advances seqs[k] from inputs[k], every row asking for the greedy
  // pick over ids [0, greedyVocab). On error nothing was started (see decodeStart()).
  Status start(std::vector<GenerationSequence*> seqs, std::span<const DecodeInput> inputs, int32_t greedyVocab);

  // A finished step: row k's greedy pick is out.greedy[k] (when `status` is OK) for seqs[k],
  // or nothing when seqs[k] is null (its sequence left while the step ran).
  struct Finished {
    Status status;
    std::vector<GenerationSequence*> seqs;
    SteadyClock::time_point started;       // when start() was called
    SteadyClock::time_point previousDone;  // when the previous finish() returned
  };
  // Waits for the oldest step in flight (there must be one) and fills *out with its outputs;
  // then releases the slots held for it.
  Finished finish(StepOutputs* out);

  // Whether the newest step in flight has a row whose sequence has not finished.
  bool newestHasLiveRows() const;

  // The sequence in `slot` is gone (about to be destroyed): its rows of the steps in flight
  // are dropped, and the slot goes back to the backend now, or when the last step in flight
  // that advances it has finished.
  void releaseSlot(int32_t slot);

 private:
  struct Step {
    std::vector<GenerationSequence*> seqs;  // per row; null once the sequence is gone
    std::vector<int32_t> slots;             // per row
    std::vector<int32_t> heldSlots;         // released when this step finishes
    SteadyClock::time_point started;
  };

  ModelBackend& backend_;
  std::deque<Step> steps_;                  // oldest first
  std::vector<RowOutput> rows_;             // the row request of start() (all kGreedy)
  std::vector<int32_t> slots_;              // scratch of start()
  std::vector<int32_t> pendingRow_;         // per slot: its row of the newest step, or -1
  SteadyClock::time_point lastDone_;
};

}  // namespace mamba
