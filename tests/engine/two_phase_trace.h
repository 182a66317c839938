// Shared by the CPU and GPU tests of ModelBackend's two-phase decode: the same decode steps
// run with decode() and with decodeStart()/decodeFinish() (two steps in flight wherever the
// inputs allow), recorded per step and slot for a bit-exact comparison.
//
// The run: three sequences in slots 0..2 (prompts of ids < 64), `steps` steps of all three;
// slot 2 asks for its full logits every third step (its next token is then the host's pick,
// so the step after it waits for that step to finish); after every step start, a prefill of
// slot 3 that asks for its logits runs while the steps are in flight (it must change none of
// their outputs). With `rotate`, step s lists the slots rotated by s, so a row never takes its
// token from the same row of the previous step; without, always in order 0, 1, 2.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "server/engine/model_backend.h"

namespace mamba::test {

// What one sequence got from one step.
struct RowResult {
  RowOutput kind = RowOutput::kNone;
  GreedyPick pick;            // kGreedy
  std::vector<float> logits;  // kLogits
  bool operator==(const RowResult& o) const;  // bit-exact
};
using Trace = std::vector<std::map<int32_t, RowResult>>;  // per step: slot -> its row

// `b` must be fresh (slots 0..3 free). greedyVocab: as RowRequest's.
Trace runWithDecode(ModelBackend& b, int steps, int32_t greedyVocab, bool rotate);
Trace runTwoPhase(ModelBackend& b, int steps, int32_t greedyVocab, bool rotate);

// Fails the test at every row where the traces differ.
void expectSameTraces(const Trace& want, const Trace& got);

}  // namespace mamba::test
