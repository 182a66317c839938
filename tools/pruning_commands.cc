#include "tools/pruning_commands.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "pruning/calibration.h"
#include "pruning/evaluation.h"
#include "pruning/prune_job.h"
#include "pruning/selection.h"
#include "pruning/surgery.h"
#include "pruning/sweep.h"
#include "server/model/checkpoint.h"
#include "tools/tool_util.h"

#ifndef MAMBA_SOURCE_DIR
#define MAMBA_SOURCE_DIR "."
#endif

namespace mamba::tool {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

struct Loaded {
  LoadedCheckpoint ckpt;
  std::unique_ptr<Mamba2Model> model;
};

Loaded loadModel(const std::string& dir, const std::string& dtypeName, const std::string& deviceName) {
  torch::ScalarType dtype = orDie(parseDTypeName(dtypeName));
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(deviceName);
  } catch (const c10::Error&) {
    throw StatusError(invalidArgument("--device must be cpu or cuda[:N], got '" + deviceName + "'"));
  }
  Loaded l{orDie(loadCheckpoint(dir, {dtype, device})), nullptr};
  l.model = std::make_unique<Mamba2Model>(l.ckpt.config, l.ckpt.weights);
  return l;
}

std::vector<int32_t> readTokens(const Tokenizer& tok, const std::string& path, const std::string& split, int64_t maxBytes) {
  std::string text = splitText(readFile(path), split);
  if (maxBytes > 0 && static_cast<size_t>(maxBytes) < text.size()) text.resize(static_cast<size_t>(maxBytes));
  std::vector<int32_t> ids = tok.encode(text);
  if (ids.empty()) throw StatusError(invalidArgument(path + ": the text encodes to no tokens"));
  return ids;
}

pruning::TokenBytesFn tokenBytesOf(const Tokenizer& tok) {
  return [&tok](int32_t id) { return static_cast<int64_t>(tok.tokenBytes(id).size()); };
}

Json perplexityJson(const pruning::PerplexityStats& p, int64_t tokens, int64_t context) {
  return {{"tokens", tokens},           {"tokens_scored", p.tokensScored}, {"bytes_scored", p.bytesScored},
          {"mean_nll", p.meanNll()},     {"perplexity", p.perplexity()},    {"bits_per_byte", p.bitsPerByte()},
          {"context", context}};
}

void progressLine(const char* what, int64_t done, int64_t total) {
  std::cerr << "\r" << what << ": " << done << " / " << total << " tokens" << (done == total ? "\n" : "") << std::flush;
}

}  // namespace

void PruningCommands::addModel(CLI::App* cmd, Model& m) {
  cmd->add_option("model_dir", m.dir, "model directory (config.json + weights)")->required();
  cmd->add_option("--dtype", m.dtype, "fp32 | bf16 | fp16")->capture_default_str();
  cmd->add_option("--device", m.device, "cpu | cuda[:N]")->capture_default_str();
  cmd->add_option("--tokenizer", m.tokenizer, "tokenizer.json (default: MODEL_DIR/tokenizer.json)");
}

void PruningCommands::addText(CLI::App* cmd, Text& t, bool required) {
  auto* opt = cmd->add_option("--text", t.path, "text file");
  if (required) opt->required();
  cmd->add_option("--split", t.split, "all | train | heldout (the reference model's 90/10 split)")->capture_default_str();
  cmd->add_option("--max-bytes", t.maxBytes, "use only the first N bytes of the (split) text (0 = all)");
}

void PruningCommands::add(CLI::App& app) {
  calibrate_ = app.add_subcommand("calibrate", "per-state importance scores from a text (JSON file)");
  addModel(calibrate_, calModel_);
  addText(calibrate_, calText_, true);
  calibrate_->add_option("--tokens", calTokens_, "token budget (0 = the whole text)")->capture_default_str();
  calibrate_->add_option("--context", calContext_, "window length in tokens")->capture_default_str();
  calibrate_->add_option("--batch", calBatch_, "windows per forward")->capture_default_str();
  calibrate_->add_option("--seed", calSeed_, "seed of the random scores")->capture_default_str();
  calibrate_->add_option("--out", calOut_, "output scores.json")->required();

  prune_ = app.add_subcommand("prune", "prune SSM states and write the pruned checkpoint");
  addModel(prune_, pruneModel_);
  prune_->add_option("--scores", scoresPath_, "scores.json from calibrate")->required();
  prune_->add_option("--method", method_, "delta_b | output | weight | random")->capture_default_str();
  prune_->add_option("--ratio", ratio_, "fraction of states to remove, in [0, 1)")->capture_default_str();
  prune_->add_option("--mode", mode_, "per-layer | global")->capture_default_str();
  prune_->add_option("--variant", variant_, "masked | compacted")->capture_default_str();
  prune_->add_option("--out", pruneOut_, "output directory")->required();

  eval_ = app.add_subcommand("eval", "perplexity on a text and/or zero-shot multiple-choice accuracy (JSON)");
  addModel(eval_, evalModel_);
  addText(eval_, evalText_, false);
  eval_->add_option("--context", evalContext_, "perplexity window length")->capture_default_str();
  eval_->add_option("--batch", evalBatch_, "sequences per forward")->capture_default_str();
  eval_->add_option("--task", task_, "piqa | arc_easy | hellaswag | openbookqa");
  eval_->add_option("--data", taskData_, "the task's JSONL file");
  eval_->add_option("--limit", evalLimit_, "use only the first N documents (0 = all)");

  sweep_ = app.add_subcommand("sweep", "perplexity over ratios x methods x modes: table + plots in --out");
  addModel(sweep_, sweepModel_);
  addText(sweep_, sweepText_, true);
  sweep_->add_option("--scores", sweepScores_, "scores.json from calibrate")->required();
  sweep_->add_option("--out", sweepOut_, "output directory")->required();
  sweep_->add_option("--ratios", sweepRatios_, "pruning ratios")->capture_default_str();
  sweep_->add_option("--methods", sweepMethods_, "score methods")->capture_default_str();
  sweep_->add_option("--modes", sweepModes_, "selection modes")->capture_default_str();
  sweep_->add_option("--variant", sweepVariant_, "masked | compacted (same numbers; compacted is faster)")->capture_default_str();
  sweep_->add_option("--context", sweepContext_, "perplexity window length")->capture_default_str();
  sweep_->add_option("--batch", sweepBatch_, "windows per forward")->capture_default_str();
  sweep_->add_option("--python", python_, "python with matplotlib (default: $MAMBA_PYTHON, else python3)");
  sweep_->add_option("--plot-script", plotScript_, "default: <source>/scripts/plot_pruning.py");
  sweep_->add_flag("!--no-plot", plot_, "only write the tables");
}

bool PruningCommands::run() {
  if (calibrate_ && calibrate_->parsed()) {
    calibrate();
  } else if (prune_ && prune_->parsed()) {
    prune();
  } else if (eval_ && eval_->parsed()) {
    eval();
  } else if (sweep_ && sweep_->parsed()) {
    sweep();
  } else {
    return false;
  }
  return true;
}

void PruningCommands::calibrate() {
  Loaded m = loadModel(calModel_.dir, calModel_.dtype, calModel_.device);
  auto tok = loadTokenizer(calModel_.dir, calModel_.tokenizer);
  std::vector<int32_t> ids = readTokens(*tok, calText_.path, calText_.split, calText_.maxBytes);
  pruning::CalibrationOptions o;
  o.maxTokens = calTokens_;
  o.context = calContext_;
  o.batch = calBatch_;
  o.randomSeed = calSeed_;
  o.progress = [](int64_t done, int64_t total) { progressLine("calibrate", done, total); };
  pruning::StateScores s = orDie(pruning::calibrate(*m.model, ids, o));
  s.modelPath = calModel_.dir;
  s.corpusSource = calText_.path + (calText_.split == "all" ? "" : " [" + calText_.split + "]");
  orDie(s.save(calOut_));
  std::cout << Json{{"out", calOut_}, {"tokens", s.tokens}, {"corpus_fnv1a64", s.corpusHash}, {"seconds", s.seconds}}.dump(2)
            << "\n";
}

void PruningCommands::prune() {
  pruning::PruneJobOptions o;
  o.modelDir = pruneModel_.dir;
  o.tokenizerPath = pruneModel_.tokenizer;
  o.dtype = pruneModel_.dtype;
  o.scoresPath = scoresPath_;
  o.method = method_;
  o.ratio = ratio_;
  o.mode = mode_;
  o.variant = variant_;
  o.outputDir = pruneOut_;
  o.overwrite = true;
  pruning::PruneJobResult r = orDie(pruning::runPruneJob(o));
  std::cout << Json{{"source_model", pruneModel_.dir},
                    {"out", r.outputDir},
                    {"scores", r.scoresPath},
                    {"corpus_fnv1a64", r.corpusHash},
                    {"method", method_},
                    {"ratio", ratio_},
                    {"mode", mode_},
                    {"variant", variant_},
                    {"state_sizes_before", r.stateSizesBefore},
                    {"state_sizes", r.stateSizes},
                    {"state_bytes_per_sequence_fp32", r.stateBytesPerSequence},
                    {"state_bytes_per_sequence_fp32_before", r.stateBytesPerSequenceBefore},
                    {"parameters", r.parameters},
                    {"hf_compatible", r.hfCompatible}}
                   .dump(2)
            << "\n";
}

void PruningCommands::eval() {
  if (evalText_.path.empty() && task_.empty()) throw StatusError(invalidArgument("eval needs --text and/or --task with --data"));
  if (!task_.empty() && taskData_.empty()) throw StatusError(invalidArgument("--task needs --data FILE.jsonl"));
  Loaded m = loadModel(evalModel_.dir, evalModel_.dtype, evalModel_.device);
  auto tok = loadTokenizer(evalModel_.dir, evalModel_.tokenizer);
  Json j = {{"model", evalModel_.dir}};
  if (!evalText_.path.empty()) {
    std::vector<int32_t> ids = readTokens(*tok, evalText_.path, evalText_.split, evalText_.maxBytes);
    auto p = orDie(pruning::windowPerplexity(*m.model, ids, evalContext_, evalBatch_, tokenBytesOf(*tok)));
    j["perplexity"] = perplexityJson(p, static_cast<int64_t>(ids.size()), evalContext_);
  }
  if (!task_.empty()) {
    pruning::McTask task = orDie(pruning::parseMcTask(task_));
    std::vector<pruning::McDoc> docs = orDie(pruning::loadMcDocs(task, taskData_, evalLimit_));
    pruning::McResult r = orDie(pruning::evaluateMultipleChoice(*m.model, *tok, docs, evalBatch_));
    j["task"] = {{"name", task_}, {"data", taskData_}, {"docs", r.docs}, {"acc", r.acc}, {"acc_norm", r.accNorm}};
  }
  std::cout << j.dump(2) << "\n";
}

void PruningCommands::sweep() {
  const torch::ScalarType dtype = orDie(parseDTypeName(sweepModel_.dtype));
  LoadedCheckpoint ckpt = orDie(loadCheckpoint(sweepModel_.dir, {dtype, torch::Device(sweepModel_.device)}));
  auto tok = loadTokenizer(sweepModel_.dir, sweepModel_.tokenizer);
  pruning::StateScores scores = orDie(pruning::StateScores::load(sweepScores_));
  std::vector<int32_t> ids = readTokens(*tok, sweepText_.path, sweepText_.split, sweepText_.maxBytes);
  pruning::SweepOptions o;
  o.ratios = sweepRatios_;
  o.methods = sweepMethods_;
  o.modes.clear();
  for (const auto& name : sweepModes_) o.modes.push_back(orDie(pruning::parseSelectionMode(name)));
  o.variant = orDie(pruning::parseVariant(sweepVariant_));
  o.context = sweepContext_;
  o.batch = sweepBatch_;
  std::cerr << "sweep: " << ids.size() << " tokens, " << o.modes.size() * o.methods.size() * o.ratios.size() << " points\n";
  auto rows = orDie(pruning::runSweep(ckpt.config, ckpt.weights, scores, ids, tokenBytesOf(*tok), o,
                                      [](const pruning::SweepRow& r) {
                                        std::cerr << r.method << " " << pruning::selectionModeName(r.mode) << " r=" << r.ratio
                                                  << ": ppl " << r.ppl.perplexity() << " (" << r.seconds << " s)\n";
                                      }));
  fs::create_directories(sweepOut_);
  const fs::path csv = fs::path(sweepOut_) / "sweep.csv", md = fs::path(sweepOut_) / "sweep.md";
  std::ofstream(csv) << pruning::sweepCsv(rows);
  std::ofstream(md) << pruning::sweepMarkdown(rows);
  Json j = {{"model", sweepModel_.dir},      {"scores", sweepScores_},           {"text", sweepText_.path},
            {"split", sweepText_.split},     {"tokens", ids.size()},             {"corpus_fnv1a64", pruning::corpusHash(ids)},
            {"context", sweepContext_},      {"variant", sweepVariant_},         {"csv", csv.string()},
            {"markdown", md.string()}};
  if (plot_) {
    std::string py = python_;
    if (py.empty()) py = std::getenv("MAMBA_PYTHON") ? std::getenv("MAMBA_PYTHON") : "python3";
    std::string script = plotScript_.empty() ? std::string(MAMBA_SOURCE_DIR) + "/scripts/plot_pruning.py" : plotScript_;
    std::string cmd = "'" + py + "' '" + script + "' --csv '" + csv.string() + "' --scores '" + sweepScores_ + "' --out '" +
                      sweepOut_ + "'";
    const int rc = std::system(cmd.c_str());
    j["plots"] = rc == 0 ? Json("written") : Json("failed (run: " + cmd + ")");
  }
  std::ofstream(fs::path(sweepOut_) / "sweep.json") << j.dump(2) << "\n";
  std::cout << j.dump(2) << "\n";
}

}  // namespace mamba::tool
