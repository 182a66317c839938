#include "server/model/state_padding.h"

#include <algorithm>
#include <string>
#include <vector>

#include "server/model/env_flag.h"

namespace mamba {
namespace {

// `t` (rows along dim 0) with the 2 G blocks of N rows starting at row `first` (each group's B
// states, then each group's C states) each followed by `pad` zero rows; rows before `first` and
// after the blocks are kept. An undefined tensor stays undefined.
torch::Tensor padStateRows(const torch::Tensor& t, int64_t first, int64_t groups, int64_t n, int64_t pad) {
  if (!t.defined()) return t;
  std::vector<torch::Tensor> parts;
  parts.push_back(t.narrow(0, 0, first));
  std::vector<int64_t> zeroShape = t.sizes().vec();
  zeroShape[0] = pad;
  const torch::Tensor zeros = t.new_zeros(zeroShape);
  for (int64_t b = 0; b < 2 * groups; ++b) {
    parts.push_back(t.narrow(0, first + b * n, n));
    parts.push_back(zeros);
  }
  const int64_t tail = first + 2 * groups * n;
  parts.push_back(t.narrow(0, tail, t.size(0) - tail));
  return torch::cat(parts).contiguous();
}

Status checkRows(const torch::Tensor& t, int64_t rows, const std::string& what) {
  if (t.defined() && (t.dim() < 1 || t.size(0) != rows)) {
    return invalidArgument(what + " has " +
                           (t.dim() < 1 ? std::string("no rows") : std::to_string(t.size(0)) + " rows") +
                           ", the config needs " + std::to_string(rows));
  }
  return Status::ok();
}

}  // namespace

StatusOr<int64_t> padStateChannels(ModelConfig& config, ModelWeights& weights, const std::vector<int64_t>& servedSizes) {
  if (static_cast<int64_t>(weights.layers.size()) != config.nLayer ||
      static_cast<int64_t>(config.stateSizes.size()) != config.nLayer) {
    return invalidArgument("the weights have " + std::to_string(weights.layers.size()) + " layers, the config " +
                           std::to_string(config.nLayer));
  }
  if (static_cast<int64_t>(servedSizes.size()) != config.nLayer) {
    return invalidArgument("one served state size per layer is needed, got " + std::to_string(servedSizes.size()));
  }
  torch::NoGradGuard noGrad;
  const int64_t Di = config.dInner, G = config.nGroups;
  for (int64_t l = 0; l < config.nLayer; ++l) {  // every layer checked before any is changed
    const LayerWeights& w = weights.layers[static_cast<size_t>(l)];
    const std::string where = "layer " + std::to_string(l);
    MAMBA_RETURN_IF_ERROR(checkRows(w.inProj, config.inProjDim(l), where + " in_proj"));
    MAMBA_RETURN_IF_ERROR(checkRows(w.inProjBias, config.inProjDim(l), where + " in_proj bias"));
    MAMBA_RETURN_IF_ERROR(checkRows(w.convWeight, config.convDim(l), where + " conv weight"));
    MAMBA_RETURN_IF_ERROR(checkRows(w.convBias, config.convDim(l), where + " conv bias"));
    const int64_t served = servedSizes[static_cast<size_t>(l)];
    if (served < config.stateSize(l)) {
      return invalidArgument(where + ": served state size " + std::to_string(served) + " is below its " +
                             std::to_string(config.stateSize(l)) + " states");
    }
  }
  int64_t changed = 0;
  for (int64_t l = 0; l < config.nLayer; ++l) {
    LayerWeights& w = weights.layers[static_cast<size_t>(l)];
    const int64_t n = config.stateSize(l), np = servedSizes[static_cast<size_t>(l)];
    if (np == n) continue;
    // in_proj rows [z | x | B | C | dt] and conv channels [x | B | C]: the B blocks start
    // after 2 Di rows and after Di channels.
    w.inProj = padStateRows(w.inProj, 2 * Di, G, n, np - n);
    w.inProjBias = padStateRows(w.inProjBias, 2 * Di, G, n, np - n);
    w.convWeight = padStateRows(w.convWeight, Di, G, n, np - n);
    w.convBias = padStateRows(w.convBias, Di, G, n, np - n);
    w.stateSize = np;
    config.stateSizes[static_cast<size_t>(l)] = np;
    ++changed;
  }
  return changed;
}

int64_t servedStateSize(int64_t n, const torch::Device& device, torch::ScalarType dtype) {
  if (!device.is_cuda()) return n;
  static const int64_t forced = envPositiveInt("MAMBA_STATE_ALIGN", 0);
  if (forced > 0) return paddedStateSize(n, forced);
  const int64_t wide = paddedStateSize(n, std::max<int64_t>(statesPer16Bytes(dtype), 4));
  return 4 * (wide - n) <= n ? wide : paddedStateSize(n, 4);
}

StatusOr<int64_t> padStatesForServing(ModelConfig& config, ModelWeights& weights, const torch::Device& device,
                                      torch::ScalarType dtype) {
  std::vector<int64_t> sizes;
  for (int64_t n : config.stateSizes) sizes.push_back(servedStateSize(n, device, dtype));
  return padStateChannels(config, weights, sizes);
}

}  // namespace mamba
