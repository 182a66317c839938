#include "pruning/sweep.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>

namespace mamba::pruning {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string joinSizes(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + std::to_string(v[i]);
  return s;
}

}  // namespace

StatusOr<std::vector<SweepRow>> runSweep(const ModelConfig& config, const ModelWeights& weights,
                                         const StateScores& scores, std::span<const int32_t> tokens,
                                         const TokenBytesFn& tokenBytes, const SweepOptions& o,
                                         const std::function<void(const SweepRow&)>& onRow) {
  int64_t totalStates = 0;
  for (int64_t n : config.stateSizes) totalStates += config.nGroups * n;
  auto evaluate = [&](const ModelConfig& c, const ModelWeights& w, SweepRow& row) -> Status {
    const auto t0 = std::chrono::steady_clock::now();
    Mamba2Model model(c, w);
    MAMBA_ASSIGN_OR_RETURN(row.ppl, windowPerplexity(model, tokens, o.context, o.batch, tokenBytes));
    row.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    row.stateSizes = c.stateSizes;
    row.keptStates = 0;
    for (int64_t n : c.stateSizes) row.keptStates += c.nGroups * n;
    row.totalStates = totalStates;
    row.stateBytesPerSequence = c.stateBytesPerSequence(4, 4);
    return Status::ok();
  };

  std::vector<SweepRow> rows;
  std::optional<SweepRow> dense;
  for (SelectionMode mode : o.modes) {
    for (const std::string& method : o.methods) {
      MAMBA_ASSIGN_OR_RETURN(const ScoreTable* table, scores.table(method));
      for (double ratio : o.ratios) {
        SweepRow row;
        if (ratio == 0.0 && dense) {
          row = *dense;
        } else {
          MAMBA_ASSIGN_OR_RETURN(PruningPlan plan, selectStates(*table, ratio, mode));
          MAMBA_ASSIGN_OR_RETURN(PrunedModel m, applyPlan(config, weights, plan, o.variant));
          MAMBA_RETURN_IF_ERROR(evaluate(m.config, m.weights, row));
          if (ratio == 0.0) dense = row;
        }
        row.method = method;
        row.mode = mode;
        row.ratio = ratio;
        if (onRow) onRow(row);
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

std::string sweepCsv(const std::vector<SweepRow>& rows) {
  std::ostringstream os;
  os << "method,mode,ratio,kept_states,total_states,state_sizes,state_bytes_per_seq,tokens,mean_nll,perplexity,"
        "bits_per_byte,seconds\n";
  for (const SweepRow& r : rows) {
    os << r.method << ',' << selectionModeName(r.mode) << ',' << fmt("%.2f", r.ratio) << ',' << r.keptStates << ','
       << r.totalStates << ',' << joinSizes(r.stateSizes) << ',' << r.stateBytesPerSequence << ',' << r.ppl.tokensScored
       << ',' << fmt("%.6f", r.ppl.meanNll()) << ',' << fmt("%.4f", r.ppl.perplexity()) << ','
       << fmt("%.5f", r.ppl.bitsPerByte()) << ',' << fmt("%.1f", r.seconds) << '\n';
  }
  return os.str();
}

std::string sweepMarkdown(const std::vector<SweepRow>& rows) {
  std::ostringstream os;
  for (SelectionMode mode : {SelectionMode::kPerLayer, SelectionMode::kGlobal}) {
    std::vector<std::string> methods;
    std::map<double, std::map<std::string, const SweepRow*>> byRatio;
    for (const SweepRow& r : rows) {
      if (r.mode != mode) continue;
      if (std::find(methods.begin(), methods.end(), r.method) == methods.end()) methods.push_back(r.method);
      byRatio[r.ratio][r.method] = &r;
    }
    if (methods.empty()) continue;
    os << "### Perplexity, " << selectionModeName(mode) << " selection\n\n| r | kept states |";
    for (const auto& m : methods) os << ' ' << m << " |";
    os << "\n|---|---|";
    for (size_t i = 0; i < methods.size(); ++i) os << "---|";
    os << '\n';
    for (const auto& [ratio, cells] : byRatio) {
      const SweepRow* any = cells.begin()->second;
      os << "| " << fmt("%.1f", ratio) << " | " << any->keptStates << " / " << any->totalStates << " |";
      for (const auto& m : methods) {
        auto it = cells.find(m);
        os << ' ' << (it == cells.end() ? std::string("–") : fmt("%.3f", it->second->ppl.perplexity())) << " |";
      }
      os << '\n';
    }
    os << '\n';
  }
  return os.str();
}

}  // namespace mamba::pruning
