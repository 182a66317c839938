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
// padStateChannels appends zero channels to every state group of a layer, up to a served width.
// It is exact: a padded channel's in_proj rows, in_proj bias, conv weights and conv bias are 0,
// so its B and C are silu(0) = 0 at every step, its state stays exactly 0 (S = S exp(dt A) +
// dt x B^T with B = 0), and its terms of y = C . S are exact zeros. Only the summation order of
// the products changes (round-off).
//
// The served width (servedStateSize) on CUDA is N rounded up to 16 bytes of the model dtype (8
// states for bf16/fp16, 4 for fp32: 16-byte conv-output rows for the prefill SSD's copies when
// Di is a multiple of 8, and 16-byte fp32 / 8-byte bf16 state rows), unless that adds more than
// N/4 channels, when a multiple of 4 is taken (12 stays 12: 16 would add a third of the state to
// every decode step for a prefill gain of a few percent; that case was not measured). H200, 130m
// bf16 (session 17, run4), speed-up over dense with 8 vs 4: N = 89 -> 96 vs 92, prefill 1 x 2048
// 1.020x vs 0.938x, 1 x 8192 1.013x vs 0.990x, decode B256 1.176x vs 1.160x; N = 115 -> 120 vs
// 116, prefill 1 x 2048 0.951x vs 0.923x, decode B64 1.014x vs 1.032x (the 3.4% more state).
// Unpadded, N = 115 was 0.83x / 0.91x of dense at decode batch 1 / 64 (run1); served at 120,
// 1.00x / 1.02x (run5).
//
// The serving paths (the engine's backend, the benchmarks) pad on CUDA; the CPU path and the
// pruning tools keep the checkpoint's N_i (their LibTorch ops have no alignment needs, and the
// pruning scores must cover exactly the checkpoint's states).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "server/common/status.h"
#include "server/model/model_config.h"
#include "server/model/model_weights.h"

namespace mamba {

// n rounded up to a multiple of align (n >= 1, align >= 1).
inline int64_t paddedStateSize(int64_t n, int64_t align) { return (n + align - 1) / align * align; }

// States (elements) of `dtype` per 16-byte vector: 8 for bf16/fp16, 4 for fp32. The row
// alignment the CUDA kernels' vector forms need (here, and the prefill conv output's pitch).
inline int64_t statesPer16Bytes(torch::ScalarType dtype) { return 16 / static_cast<int64_t>(c10::elementSize(dtype)); }

// Pads layer l of (config, weights) to servedSizes[l] >= N_l states per group (see above): in_proj
// rows and bias, conv weight and bias get servedSizes[l] - N_l zero channels after each group's B
// states and after each group's C states; config.stateSizes and LayerWeights::stateSize become
// the served widths. Tensors keep their dtype and device; layers already at their width are not
// copied. Returns the number of layers changed; InvalidArgument (and nothing changed) for a
// served size below N_l, a size list of the wrong length, or tensors whose shapes do not match the
// config.
StatusOr<int64_t> padStateChannels(ModelConfig& config, ModelWeights& weights, const std::vector<int64_t>& servedSizes);

// The width a layer of n states is served at on `device` for weights of `dtype` (see above): n
// on the CPU. MAMBA_STATE_ALIGN=a (read once per process) makes it n rounded up to a multiple of
// a on CUDA instead (1: no padding), for A/B runs.
int64_t servedStateSize(int64_t n, const torch::Device& device, torch::ScalarType dtype);

// padStateChannels to every layer's servedStateSize on `device` for `dtype` (the weights may
// still be elsewhere, e.g. on the CPU before a cast).
StatusOr<int64_t> padStatesForServing(ModelConfig& config, ModelWeights& weights, const torch::Device& device,
                                      torch::ScalarType dtype);

}  // namespace mamba
