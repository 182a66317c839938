// The accuracy sweep: perplexity of pruned variants over ratios × methods × selection modes.
//
// Each point builds the variant in memory (selectStates + applyPlan) and measures
// windowPerplexity on the same tokens. Ratio 0 keeps every state in every method and mode
// (the identity, tested), so it is evaluated once, as the dense model, and reported in every
// (method, mode) row set.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "pruning/evaluation.h"
#include "pruning/selection.h"
#include "pruning/state_scores.h"
#include "pruning/surgery.h"

namespace mamba::pruning {

struct SweepOptions {
  std::vector<double> ratios = {0.0, 0.1, 0.3, 0.5, 0.7, 0.9};
  std::vector<std::string> methods = scoreMethods();
  std::vector<SelectionMode> modes = {SelectionMode::kPerLayer, SelectionMode::kGlobal};
  Variant variant = Variant::kCompacted;  // masked gives the same numbers (to round-off), slower
  int64_t context = 2048;
  int64_t batch = 4;
};

struct SweepRow {
  std::string method;
  SelectionMode mode = SelectionMode::kPerLayer;
  double ratio = 0;
  std::vector<int64_t> stateSizes;  // N_i per layer after pruning
  int64_t keptStates = 0;           // Σ_l G·N_i
  int64_t totalStates = 0;          // Σ_l G·N_l of the dense model
  int64_t stateBytesPerSequence = 0;  // fp32 conv + SSM state of the variant
  PerplexityStats ppl;
  double seconds = 0;               // wall time of the evaluation
};

// `onRow` (optional) sees each row as soon as it is measured (progress output).
StatusOr<std::vector<SweepRow>> runSweep(const ModelConfig& config, const ModelWeights& weights,
                                         const StateScores& scores, std::span<const int32_t> tokens,
                                         const TokenBytesFn& tokenBytes, const SweepOptions& options,
                                         const std::function<void(const SweepRow&)>& onRow = {});

// method,mode,ratio,kept_states,total_states,state_sizes,state_bytes_per_seq,tokens,mean_nll,perplexity,bits_per_byte,seconds
std::string sweepCsv(const std::vector<SweepRow>& rows);
// One table per mode: rows = ratios, columns = methods, cells = perplexity.
std::string sweepMarkdown(const std::vector<SweepRow>& rows);

}  // namespace mamba::pruning
