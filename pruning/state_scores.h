// Per-state importance scores of a Mamba-2 model and their file format. Torch-free.
//
// A score is one number per SSM state (g, s) of each layer l: (layer, group, state). Higher
// means more important (kept first). The calibration (calibration.h) fills four methods:
//   delta_b  mean over tokens t and the heads h of group g of Δ_{t,h}·|B_{t,g,s}|
//   output   mean over tokens, the heads of group g and their lanes p of |C_{t,g,s}·h_{t,h,p,s}|
//   weight   ‖in_proj row of B(g,s)‖₂ · ‖in_proj row of C(g,s)‖₂ (no data)
//   random   uniform [0, 1), seeded (no data)
// The file (JSON, format "mamba-pruning-scores/1") records the model path, the corpus (its
// source name, FNV-1a 64 hash of the token ids and the token count), the calibration shape
// and every method's scores as [layer][group][state] arrays.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "server/common/status.h"

namespace mamba::pruning {

// The scores of one layer: groups × stateSize values, row-major (group-major).
struct LayerScores {
  int64_t groups = 0;
  int64_t stateSize = 0;
  std::vector<double> values;  // values[g * stateSize + s]

  double at(int64_t g, int64_t s) const { return values[static_cast<size_t>(g * stateSize + s)]; }
  double& at(int64_t g, int64_t s) { return values[static_cast<size_t>(g * stateSize + s)]; }
  static LayerScores zeros(int64_t groups, int64_t stateSize);
};

using ScoreTable = std::vector<LayerScores>;  // one entry per layer

// The scoring methods, in the order every report lists them.
inline const std::vector<std::string>& scoreMethods() {
  static const std::vector<std::string> kMethods = {"delta_b", "output", "weight", "random"};
  return kMethods;
}

struct StateScores {
  std::string modelPath;
  std::string corpusSource;        // e.g. the text file's path
  std::string corpusHash;          // fnv1a64 of the token ids, 16 hex digits
  int64_t tokens = 0;              // tokens the data-driven scores averaged over
  int64_t context = 0;             // calibration window length
  int64_t batch = 0;               // windows per forward
  uint64_t randomSeed = 0;
  double seconds = 0;              // wall time of the calibration
  std::map<std::string, ScoreTable> methods;
  // The paper's E[Δ]: mean Δ per head, [layer][head]. Informational: in Mamba-2 it does not
  // distinguish the states of a group (every state of a head shares its Δ).
  std::vector<std::vector<double>> headDelta;

  // The table of `method`, or an error listing the available ones.
  StatusOr<const ScoreTable*> table(const std::string& method) const;

  std::string toJson() const;
  static StatusOr<StateScores> fromJson(const std::string& text, const std::string& origin);
  Status save(const std::string& path) const;
  static StatusOr<StateScores> load(const std::string& path);
};

// FNV-1a 64 over the little-endian bytes of the int32 ids, as 16 lowercase hex digits.
std::string corpusHash(std::span<const int32_t> tokens);

}  // namespace mamba::pruning
