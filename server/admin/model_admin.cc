#include "server/admin/model_admin.h"

#include <chrono>
#include <filesystem>
#include <functional>

#include "pruning/surgery.h"
#include "server/common/logging.h"

namespace mamba::admin {
namespace {

namespace fs = std::filesystem;

// Calibration progress in the server log: at each further 10% of the tokens, and at least every
// 10 s, so that an operator sees a calibration of minutes move. Chains `inner` (when set).
std::function<void(int64_t, int64_t)> progressLog(std::string what, std::function<void(int64_t, int64_t)> inner) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  return [what = std::move(what), inner = std::move(inner), start, lastTenth = int64_t{0},
          lastLog = start](int64_t done, int64_t total) mutable {
    if (inner) inner(done, total);
    const auto now = Clock::now();
    const int64_t tenth = total > 0 ? done * 10 / total : 10;
    if (tenth <= lastTenth && now - lastLog < std::chrono::seconds(10)) return;
    lastTenth = tenth;
    lastLog = now;
    MAMBA_LOG(kInfo) << "admin: calibrating " << what << ": " << done << " / " << total << " tokens ("
                     << (total > 0 ? done * 100 / total : 100) << "%) in "
                     << std::chrono::duration<double>(now - start).count() << " s";
  };
}

Status checkVariantName(const std::string& variant, const std::string& field) {
  if (isVariantName(variant)) return Status::ok();
  return invalidArgument(field + " must be dense, masked or compacted, got '" + variant + "'");
}

}  // namespace

std::optional<ModelInfo> ModelAdmin::hosted(const std::string& model, const std::string& variant,
                                            const ModelInfo* fallback) const {
  std::optional<ModelInfo> first;
  for (ModelInfo& info : engine_.listModels()) {
    if (info.name != model) continue;
    if (info.variant == variant) return info;
    if (!first) first = std::move(info);
  }
  if (fallback) return *fallback;
  return first;
}

StatusOr<ModelLoadResult> ModelAdmin::load(const LoadRequest& request) {
  std::lock_guard lock(mutex_);
  return loadLocked(request);
}

StatusOr<ModelLoadResult> ModelAdmin::loadLocked(const LoadRequest& r, const ModelInfo* like) {
  if (r.model.empty()) return invalidArgument("model is required");
  const std::string variant = r.variant.empty() ? "dense" : r.variant;
  MAMBA_RETURN_IF_ERROR(checkVariantName(variant, "variant"));
  if (r.path.empty()) return invalidArgument("path is required");
  std::error_code ec;
  if (!fs::is_directory(r.path, ec)) return notFound("path: no such checkpoint directory '" + r.path + "'");
  if (r.slots && *r.slots < 1) return invalidArgument("slots must be >= 1, got " + std::to_string(*r.slots));
  if (!r.tokenizer.empty() && !fs::is_regular_file(r.tokenizer, ec)) {
    return notFound("tokenizer: no such file '" + r.tokenizer + "'");
  }
  ModelSpec spec;
  spec.name = r.model;
  spec.variant = variant;
  spec.tokenizerPath = r.tokenizer;
  BackendOptions& b = spec.backend;
  if (std::optional<ModelInfo> placement = hosted(r.model, variant, like)) {
    b.dtype = placement->dtype;
    b.stateDtype = placement->stateDtype;
    b.device = placement->device;
    b.numSlots = placement->numSlots;
  }
  b.modelDir = r.path;
  b.name = r.model;
  b.variant = variant;
  if (r.dtype) b.dtype = *r.dtype;
  if (r.stateDtype) b.stateDtype = *r.stateDtype;
  if (r.device) b.device = *r.device;
  if (r.slots) b.numSlots = *r.slots;
  MAMBA_ASSIGN_OR_RETURN(ModelLoadResult result, engine_.loadModel(spec));
  MAMBA_LOG(kInfo) << "admin: model " << r.model << " (" << variant << ") " << (result.replaced ? "replaced" : "loaded")
                   << " from " << r.path << " in " << result.loadSeconds << " s";
  return result;
}

Status ModelAdmin::unload(const std::string& model, const std::string& variant) {
  if (model.empty()) return invalidArgument("model is required");
  if (variant.empty()) return invalidArgument("variant is required");
  std::lock_guard lock(mutex_);
  MAMBA_RETURN_IF_ERROR(engine_.unloadModel(model, variant));
  MAMBA_LOG(kInfo) << "admin: model " << model << " (" << variant << ") unloaded";
  return Status::ok();
}

StatusOr<PruneOutcome> ModelAdmin::prune(PruneRequest r) {
  if (r.model.empty()) return invalidArgument("model is required");
  const std::string source = r.sourceVariant.empty() ? "dense" : r.sourceVariant;
  MAMBA_RETURN_IF_ERROR(checkVariantName(source, "source_variant"));
  MAMBA_RETURN_IF_ERROR(pruning::parseVariant(r.job.variant).status());  // before the source lookup
  if (engine_.draining()) return unavailable("the server is draining and accepts no admin work");
  std::lock_guard lock(mutex_);
  std::optional<ModelInfo> src = hosted(r.model, source);
  if (!src || src->variant != source) {  // not hosted, or only another variant of the model
    return notFound("model '" + r.model + "' variant '" + source + "' is not hosted");
  }
  r.job.modelDir = src->path;
  r.job.device = src->device;
  r.job.dtype = src->dtype;
  MAMBA_LOG(kInfo) << "admin: pruning " << r.model << " (" << source << ") at ratio " << r.job.ratio << ", "
                   << r.job.method << ", " << r.job.mode << ", " << r.job.variant << " -> " << r.job.outputDir;
  r.job.progress = progressLog(r.model + " (" + source + ")", std::move(r.job.progress));
  PruneOutcome out;
  MAMBA_ASSIGN_OR_RETURN(out.job, pruning::runPruneJob(r.job));
  if (r.load && r.job.cancelled && r.job.cancelled()) {
    return cancelled("pruning cancelled after the checkpoint was written to '" + r.job.outputDir +
                     "'; it was not loaded");
  }
  if (r.load) {
    LoadRequest l;
    l.model = r.model;
    l.variant = r.job.variant;
    l.path = r.job.outputDir;
    // The target variant's own placement when it is hosted already, else the source's.
    MAMBA_ASSIGN_OR_RETURN(out.load, loadLocked(l, &*src));
  }
  return out;
}

}  // namespace mamba::admin
