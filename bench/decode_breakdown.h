// Per-kernel cost of one decode step on CUDA: each op of a layer's step is captured N times
// into a CUDA graph and replayed, so the figure is the op's in-graph time (what the whole-
// model graph pays per node), not host launch overhead. Explains where a decode TPOT above
// its floor goes: the ops' sum times the layer count versus the measured step.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

#include "server/model/mamba2_model.h"
#include "server/model/state_pool.h"

namespace mamba::bench {

// Returns {"batch": B, "ops_us": {name: microseconds per call}, "layer_sum_us": ...} for
// layer 0 of `model` at batch B (slots 0..B-1 of `pool`, which needs >= B slots). Where decode
// splits the batch into row blocks on several streams, also "parts", "part_layer_sum_us" (each
// block's layer at its own size) and "serial_parts_ms" (the blocks run one after another:
// their layers times the layer count, plus the lm_head at B).
// withParts = false: the ops at `batch` only.
nlohmann::json decodeBreakdown(const Mamba2Model& model, StatePool& pool, int64_t batch, bool withParts = true);

}  // namespace mamba::bench
