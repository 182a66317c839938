#include "pruning/prune_job.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>

#include <nlohmann/json.hpp>

#include "pruning/calibration.h"
#include "pruning/selection.h"
#include "pruning/surgery.h"
#include "server/common/file_util.h"
#include "server/model/checkpoint.h"
#include "server/tokenizer/tokenizer.h"

namespace mamba::pruning {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Status checkOptions(const PruneJobOptions& o) {
  if (o.modelDir.empty()) return invalidArgument("model: the source checkpoint directory is required");
  std::error_code ec;
  if (!fs::is_directory(o.modelDir, ec)) return notFound("model: no such checkpoint directory '" + o.modelDir + "'");
  if (!(o.ratio >= 0.0 && o.ratio < 1.0)) return invalidArgument("ratio must be in [0, 1), got " + std::to_string(o.ratio));
  MAMBA_RETURN_IF_ERROR(parseSelectionMode(o.mode).status());
  MAMBA_RETURN_IF_ERROR(parseVariant(o.variant).status());
  const std::vector<std::string>& methods = scoreMethods();
  if (std::find(methods.begin(), methods.end(), o.method) == methods.end()) {
    std::string names;
    for (const auto& m : methods) names += (names.empty() ? "" : ", ") + m;
    return invalidArgument("method must be one of " + names + ", got '" + o.method + "'");
  }
  if (!parseDTypeName(o.dtype).isOk()) return invalidArgument("dtype must be fp32, bf16 or fp16, got '" + o.dtype + "'");
  if (o.outputDir.empty()) return invalidArgument("output_dir is required");
  if (fs::exists(o.outputDir, ec)) {
    if (!fs::is_directory(o.outputDir, ec)) return invalidArgument("output_dir '" + o.outputDir + "' is not a directory");
    if (!o.overwrite && !fs::is_empty(o.outputDir, ec)) {
      return alreadyExists("output_dir '" + o.outputDir + "' exists and is not empty");
    }
  }
  if (!o.scoresPath.empty()) {
    if (!fs::is_regular_file(o.scoresPath, ec)) return notFound("scores_path: no such file '" + o.scoresPath + "'");
    return Status::ok();
  }
  const CalibrationSource& c = o.calibration;
  if (c.textPath.empty()) return invalidArgument("calibration.text_path is required when scores_path is not given");
  if (!fs::is_regular_file(c.textPath, ec)) return notFound("calibration.text_path: no such file '" + c.textPath + "'");
  if (c.maxTokens < 0) return invalidArgument("calibration.max_tokens must be >= 0, got " + std::to_string(c.maxTokens));
  if (c.context < 1) return invalidArgument("calibration.context must be >= 1, got " + std::to_string(c.context));
  if (c.batch < 1) return invalidArgument("calibration.batch must be >= 1, got " + std::to_string(c.batch));
  return Status::ok();
}

std::string tokenizerPathOf(const PruneJobOptions& o) {
  return o.tokenizerPath.empty() ? (fs::path(o.modelDir) / "tokenizer.json").string() : o.tokenizerPath;
}

// Calibrates the source model on the corpus (on options.device, options.dtype). `cpuFp32` is
// the source already loaded for the surgery; a CPU fp32 calibration runs on it.
StatusOr<StateScores> calibrateOn(const PruneJobOptions& o, const LoadedCheckpoint& cpuFp32) {
  const torch::ScalarType dtype = *parseDTypeName(o.dtype);  // checkOptions
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(o.device);
  } catch (const c10::Error&) {
    return invalidArgument("device must be cpu or cuda[:N], got '" + o.device + "'");
  }
  const std::string tokPath = tokenizerPathOf(o);
  std::error_code ec;
  if (!fs::is_regular_file(tokPath, ec)) {
    return notFound("tokenizer: '" + tokPath + "' does not exist (the calibration text needs the model's tokenizer)");
  }
  MAMBA_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::fromFile(tokPath));
  MAMBA_ASSIGN_OR_RETURN(std::string text, readWholeFile(o.calibration.textPath, "calibration.text_path"));
  std::vector<int32_t> ids = tok->encode(text);
  if (ids.empty()) return invalidArgument("calibration.text_path: '" + o.calibration.textPath + "' encodes to no tokens");
  std::optional<LoadedCheckpoint> placed;
  if (device != torch::Device(torch::kCPU) || dtype != torch::kFloat32) {
    auto ckpt = loadCheckpoint(o.modelDir, {dtype, device});
    if (!ckpt.isOk()) return ckpt.status().withContext("model");
    placed = std::move(ckpt).value();
  }
  const LoadedCheckpoint& source = placed ? *placed : cpuFp32;
  Mamba2Model model(source.config, source.weights);
  CalibrationOptions co;
  co.maxTokens = o.calibration.maxTokens;
  co.context = o.calibration.context;
  co.batch = o.calibration.batch;
  co.randomSeed = o.calibration.seed;
  co.progress = o.progress;
  co.cancelled = o.cancelled;
  MAMBA_ASSIGN_OR_RETURN(StateScores scores, calibrate(model, ids, co));
  scores.modelPath = o.modelDir;
  scores.corpusSource = o.calibration.textPath;
  return scores;
}

}  // namespace

StatusOr<PruneJobResult> runPruneJob(const PruneJobOptions& o) {
  MAMBA_RETURN_IF_ERROR(checkOptions(o));
  auto stopped = [&o](const char* before) -> Status {
    if (o.cancelled && o.cancelled()) return cancelled(std::string("pruning cancelled before ") + before + "; nothing written");
    return Status::ok();
  };
  MAMBA_RETURN_IF_ERROR(stopped("loading the source"));
  PruneJobResult r;
  r.outputDir = o.outputDir;
  // The surgery's source (fp32 on the CPU), loaded once; its time counts as surgery.
  const auto t0 = Clock::now();
  auto ckpt = loadCheckpoint(o.modelDir, {torch::kFloat32, torch::kCPU});
  if (!ckpt.isOk()) return ckpt.status().withContext("model");
  const double loadSeconds = secondsSince(t0);
  StateScores scores;
  if (!o.scoresPath.empty()) {
    auto loaded = StateScores::load(o.scoresPath);
    if (!loaded.isOk()) return loaded.status().withContext("scores_path");
    scores = std::move(loaded).value();
    r.scoresPath = o.scoresPath;
  } else {
    const auto tc = Clock::now();
    MAMBA_ASSIGN_OR_RETURN(scores, calibrateOn(o, *ckpt));
    r.calibrationSeconds = secondsSince(tc);
  }
  r.corpusHash = scores.corpusHash;
  r.calibrationTokens = scores.tokens;
  MAMBA_RETURN_IF_ERROR(stopped("the surgery"));

  const auto t1 = Clock::now();
  MAMBA_ASSIGN_OR_RETURN(const ScoreTable* table, scores.table(o.method));
  MAMBA_ASSIGN_OR_RETURN(SelectionMode mode, parseSelectionMode(o.mode));
  MAMBA_ASSIGN_OR_RETURN(Variant variant, parseVariant(o.variant));
  MAMBA_ASSIGN_OR_RETURN(PruningPlan plan, selectStates(*table, o.ratio, mode));
  auto pruned = applyPlan(ckpt->config, ckpt->weights, plan, variant);
  if (!pruned.isOk()) return pruned.status().withContext("scores do not fit the model");
  MAMBA_RETURN_IF_ERROR(saveHfCheckpoint(pruned->config, pruned->weights, o.outputDir, *parseDTypeName(o.dtype)));
  const fs::path tokSrc = tokenizerPathOf(o);
  std::error_code ec;
  if (fs::is_regular_file(tokSrc, ec)) {
    fs::copy_file(tokSrc, fs::path(o.outputDir) / "tokenizer.json", fs::copy_options::overwrite_existing, ec);
    if (ec) return internalError("output_dir: cannot copy the tokenizer: " + ec.message());
  }
  if (r.scoresPath.empty()) {
    r.scoresPath = (fs::path(o.outputDir) / "scores.json").string();
    MAMBA_RETURN_IF_ERROR(scores.save(r.scoresPath));
  }
  r.stateSizesBefore = ckpt->config.stateSizes;
  r.stateSizes = pruned->config.stateSizes;
  r.stateBytesPerSequenceBefore = ckpt->config.stateBytesPerSequence(4, 4);
  r.stateBytesPerSequence = pruned->config.stateBytesPerSequence(4, 4);
  r.parameters = pruned->config.parameterCount();
  r.hfCompatible = pruned->config.uniformStateSize();
  const Json manifest = {{"source_model", o.modelDir},
                         {"scores", r.scoresPath},
                         {"corpus_fnv1a64", r.corpusHash},
                         {"calibration_tokens", r.calibrationTokens},
                         {"method", o.method},
                         {"ratio", o.ratio},
                         {"mode", o.mode},
                         {"variant", o.variant},
                         {"state_sizes_before", r.stateSizesBefore},
                         {"kept_per_layer", plan.stateSizes()},
                         {"state_sizes", r.stateSizes},
                         {"kept", plan.kept},
                         {"state_bytes_per_sequence_fp32", r.stateBytesPerSequence},
                         {"state_bytes_per_sequence_fp32_before", r.stateBytesPerSequenceBefore},
                         {"parameters", r.parameters},
                         {"hf_compatible", r.hfCompatible}};
  std::ofstream out(fs::path(o.outputDir) / "pruning.json");
  out << manifest.dump(1) << "\n";
  if (!out) return internalError("output_dir: cannot write pruning.json in '" + o.outputDir + "'");
  r.surgerySeconds = loadSeconds + secondsSince(t1);
  return r;
}

}  // namespace mamba::pruning
