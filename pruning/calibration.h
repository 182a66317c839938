// Calibration: per-state importance scores of a model, from one pass over a token stream.
//
// The token stream is cut into windows of `context` tokens (the last one may be shorter), each
// run from a zero state, `batch` windows per prefill. Through the model's MixerObserver hook
// (server/model/mixer_trace.h) every layer's SSM inputs are reduced on the fly, so no
// activation is stored. Every token position of every window counts (T tokens in all).
//
// delta_b (Δ-guided activity). PerfMamba ranks state channels by E[Δ]. In Mamba-2, Δ is one
//   scalar per head, shared by all N states of the head, so E[Δ] alone cannot rank the states
//   of a group. State s of group g is written through the discretized input gate
//   B̄_{t,h,s} = Δ_{t,h}·B_{t,g,s}; its magnitude is the Δ-guided activity:
//     delta_b(g, s) = 1/(T·H_g) Σ_t Σ_{h ∈ g} Δ_{t,h}·|B_{t,g,s}|      (H_g = H/G heads)
//   with Δ after softplus and the dt clamp, and B after the conv and SiLU. It reduces to
//   E[Δ]·E|B_s| when Δ and B are independent, and to the paper's E[Δ] when B is constant.
// output (contribution to y). 1/(T·H_g·P) Σ_t Σ_{h ∈ g} Σ_p |C_{t,g,s}·h_{t,h,p,s}|, where
//   h_t is the state after token t. It needs every per-token state, which the chunked scan
//   never materializes, so it is recomputed with the per-token recurrence of spec §4.2
//   (fp32 state, double accumulators) on the CPU: about 4·H·P·N_l flops per token and layer
//   (for mamba2-130m ≈ 19 MFLOP per token, a few seconds per thousand tokens on one core).
// weight. ‖in_proj row of B(g,s)‖₂ · ‖in_proj row of C(g,s)‖₂: the data-free magnitude of
//   the write and read paths of the state (conv weights are left out: they are per channel
//   scalars of similar scale).
// random. Uniform [0, 1) from a 64-bit Mersenne twister seeded with `randomSeed`, drawn in
//   (layer, group, state) order.
#pragma once

#include <functional>
#include <span>

#include "pruning/state_scores.h"
#include "server/model/mamba2_model.h"

namespace mamba::pruning {

struct CalibrationOptions {
  int64_t maxTokens = 0;   // use only the first maxTokens ids (0 = all)
  int64_t context = 512;   // window length
  int64_t batch = 4;       // windows per prefill
  uint64_t randomSeed = 0;
  // Called after each prefill with (tokens done, tokens total). Optional.
  std::function<void(int64_t, int64_t)> progress;
  // Polled before each prefill, on the calling thread; once it returns true, calibrate()
  // returns CANCELLED. Optional.
  std::function<bool()> cancelled;
};

// All four methods. The caller fills modelPath and corpusSource; corpusHash covers exactly
// the ids used. Errors: no tokens, context or batch < 1, an id out of range.
StatusOr<StateScores> calibrate(const Mamba2Model& model, std::span<const int32_t> tokens,
                                const CalibrationOptions& options);

ScoreTable weightScores(const ModelConfig& config, const ModelWeights& weights);
ScoreTable randomScores(const ModelConfig& config, uint64_t seed);

}  // namespace mamba::pruning
