// mamba-tool's pruning commands (issue 5), kept apart from the model commands:
//   calibrate MODEL --text FILE [--split S --tokens N --context C --batch B --seed S] --out scores.json
//   prune     MODEL --scores scores.json --method M --ratio r --mode per-layer|global
//                   --variant masked|compacted --out DIR
//   eval      MODEL [--text FILE [--split S --context C]] [--task T --data FILE.jsonl [--limit N]]
//   sweep     MODEL --text FILE --scores scores.json --out DIR [--split S --context C ...]
// Results are JSON on stdout (sweep: files in DIR); progress goes to stderr. Errors are thrown
// as StatusError and reported by main().
#pragma once

#include <CLI/CLI.hpp>

namespace mamba::tool {

class PruningCommands {
 public:
  // Registers the four subcommands on `app`.
  void add(CLI::App& app);
  // Runs the subcommand that was parsed, if it is one of these; returns false otherwise.
  bool run();

 private:
  struct Model {
    std::string dir, dtype = "fp32", device = "cpu", tokenizer;
  };
  struct Text {
    std::string path, split = "all";
    int64_t maxBytes = 0;
  };
  void addModel(CLI::App* cmd, Model& m);
  void addText(CLI::App* cmd, Text& t, bool required);
  void calibrate();
  void prune();
  void eval();
  void sweep();

  CLI::App *calibrate_ = nullptr, *prune_ = nullptr, *eval_ = nullptr, *sweep_ = nullptr;
  Model calModel_, pruneModel_, evalModel_, sweepModel_;
  Text calText_, evalText_, sweepText_;
  int64_t calTokens_ = 0, calContext_ = 512, calBatch_ = 4;
  uint64_t calSeed_ = 0;
  std::string calOut_;
  std::string scoresPath_, method_ = "delta_b", mode_ = "per-layer", variant_ = "compacted", pruneOut_;
  double ratio_ = 0.5;
  int64_t evalContext_ = 2048, evalBatch_ = 4, evalLimit_ = 0;
  std::string task_, taskData_;
  std::string sweepScores_, sweepOut_, sweepVariant_ = "compacted", python_, plotScript_;
  std::vector<double> sweepRatios_ = {0.0, 0.1, 0.3, 0.5, 0.7, 0.9};
  std::vector<std::string> sweepMethods_ = {"delta_b", "output", "weight", "random"};
  std::vector<std::string> sweepModes_ = {"per-layer", "global"};
  int64_t sweepContext_ = 2048, sweepBatch_ = 4;
  bool plot_ = true;
};

}  // namespace mamba::tool
