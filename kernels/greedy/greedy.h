// Greedy pick of logits rows on the device: per row r, over ids [0, vocab), with NaN read as
// -inf and +inf as FLT_MAX (the host sampler's sanitising),
//   token   = the lowest id of the maximum
//   logprob = -log(sum_i exp(x_i - max))  (float64 throughout), -inf for a row whose entries
//             are all -inf/NaN (token 0 then)
// i.e. engine/sampling's greedyPick() to within float64 rounding of its float terms (the host
// rounds each exp to float; its terms differ by <= 1 float ulp, the sum by < 1e-7 relative).
//
// Two launches: each row is split into `chunks` chunks, one block each (a 50k vocabulary in one
// block took ~45 us at batch 1 on an H200: the serving loop's largest cost after the graph),
// which write (max, lowest id of the max, sum of exp(x - chunk max)) to `scratch`; then one
// warp per row merges its chunks in chunk order. Fixed orders everywhere: bit-identical results
// run to run.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

struct GreedyPickParams {
  int rows = 0, vocab = 0;
  const float* logits = nullptr;  // (rows, stride) fp32
  int64_t stride = 0;
  double* out = nullptr;          // (rows, 2) float64: token id, logprob
  int chunks = 1;                 // chunks per row, see greedyPickChunks
  double* scratch = nullptr;      // (rows, chunks, 3) float64: chunk max, its id, sum
};

// Chunks per row for `rows` rows of `vocab` ids: about two blocks per SM of a large part, and
// at least 1024 ids per chunk.
int greedyPickChunks(int rows, int vocab);

void launchGreedyPick(const GreedyPickParams& p, Stream stream);

}  // namespace mamba::kernels
