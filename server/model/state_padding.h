// The served layout of the SSM state dimension: N_i padded with zero channels to an aligned width.
//
// A compacted model keeps N_i = floor(N (1 - r)) states per layer (pruning/), which is often not
// a multiple of 4: 115, 89 and 38 at r = 0.1, 0.3 and 0.7 of N = 128. Every row whose width
// includes N_i is then misaligned for the CUDA kernels: the SSM state rows (N_i fp32), the
// conv output rows (Di + 2 G N_i in the model dtype) that the prefill SSD stages with
// tensor-map copies (16-byte strides only), and the in_proj output rows that the decode products
// read z from. The kernels fall back to element-wise forms, and on an H200 (bench/results,
// session 17) the compacted model became SLOWER than the dense one it was cut from: N = 115 at
// 0.83x (decode batch 1), 0.91x (batch 64), 0.92x (prefill 1 x 2048).
//
// padStateChannels appends zero channels to every state group of a layer, so the served N_i is a
// multiple of `align` (4: 16-byte fp32 and 8-byte bf16 state rows, and 16-byte conv rows when Di
// is a multiple of 8). It is exact: a padded channel's in_proj rows, in_proj bias, conv weights
// and conv bias are 0, so its B and C are silu(0) = 0 at every step, its state stays exactly 0
// (S = S exp(dt A) + dt x B^T with B = 0), and its terms of y = C . S are exact zeros. Only the
// summation order of the products changes (round-off). The cost is at most align - 1 idle
// channels per group and layer (N = 115 -> 116: 0.9% more state than the kept 115).
//
// The serving paths (the engine's backend, the benchmarks) pad on CUDA; the CPU path and the
// pruning tools keep the checkpoint's N_i (their LibTorch ops have no alignment needs, and the
// pruning scores must cover exactly the checkpoint's states).
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "server/common/status.h"
#include "server/model/model_config.h"
#include "server/model/model_weights.h"

namespace mamba {

constexpr int64_t kServedStateAlign = 4;

// n rounded up to a multiple of align (n >= 1, align >= 1).
inline int64_t paddedStateSize(int64_t n, int64_t align) { return (n + align - 1) / align * align; }

// Pads every layer of (config, weights) whose N_i is not a multiple of `align` (see above):
// in_proj rows and bias, conv weight and bias get align-padding zero channels after each group's
// B states and after each group's C states; config.stateSizes and LayerWeights::stateSize
// become the padded widths. Tensors keep their dtype and device. Returns the number of layers
// changed; InvalidArgument (and nothing changed) for align < 1 or tensors whose shapes do not
// match the config.
StatusOr<int64_t> padStateChannels(ModelConfig& config, ModelWeights& weights, int64_t align);

// The alignment the serving paths pad to on `device`: kServedStateAlign on CUDA, 1 (none) on
// the CPU. MAMBA_STATE_ALIGN=n (read once per process) overrides it on CUDA; 1 turns padding off
// (A/B runs of the unaligned kernels).
int64_t servedStateAlign(const torch::Device& device);

}  // namespace mamba
