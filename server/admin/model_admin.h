// The administrative operations behind the Admin RPC: hot-swapping a checkpoint into the
// engine, unloading a variant, and pruning a hosted model's SSM states (calibrate or load
// scores, select, surgery, write the checkpoint) followed by a hot swap of the result.
//
// Torch-free and gRPC-free: the RPC layer converts its messages to these structs; pruning
// (LibTorch) stays a private dependency of the implementation.
//
// Threading: thread-safe; operations run one at a time (a second caller waits). A prune
// calibrates on the source variant's device while that device keeps serving; it stops with
// CANCELLED, within one calibration batch, once PruneRequest::job.cancelled returns true.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "pruning/prune_job.h"
#include "server/common/status.h"
#include "server/engine/engine.h"

namespace mamba::admin {

struct LoadRequest {
  std::string model;                     // required
  std::string variant;                   // empty: "dense"
  std::string path;                      // required: checkpoint directory
  // Unset: the hosted (model, variant)'s setting, else the model's first variant's, else
  // BackendOptions' default.
  std::optional<std::string> dtype, stateDtype, device;
  std::optional<int64_t> slots;
  std::string tokenizer;                 // empty: <path>/tokenizer.json
};

struct PruneRequest {
  std::string model;                     // required: a hosted model
  std::string sourceVariant;             // empty: "dense"
  // What to prune and how. modelDir, tokenizerPath, device and dtype are taken from the source
  // variant; the pruned checkpoint is hosted as (model, job.variant) when `load` is set.
  // job.cancelled is polled also before that load (a cancelled prune loads nothing).
  pruning::PruneJobOptions job;
  bool load = true;
};

struct PruneOutcome {
  pruning::PruneJobResult job;
  std::optional<ModelLoadResult> load;   // set when the result was loaded
};

class ModelAdmin {
 public:
  // `engine` must outlive the admin.
  explicit ModelAdmin(Engine& engine) : engine_(engine) {}

  // Errors: INVALID_ARGUMENT naming the field, NOT_FOUND for a missing path, and those of
  // Engine::loadModel.
  StatusOr<ModelLoadResult> load(const LoadRequest& request);
  // Engine::unloadModel, with the fields checked.
  Status unload(const std::string& model, const std::string& variant);
  // NOT_FOUND for a source that is not hosted; the errors of pruning::runPruneJob and load().
  StatusOr<PruneOutcome> prune(PruneRequest request);

 private:
  // The hosted (model, variant), else `fallback` when given, else the model's first variant.
  std::optional<ModelInfo> hosted(const std::string& model, const std::string& variant,
                                  const ModelInfo* fallback = nullptr) const;
  // load() under mutex_; unset placement fields (dtype, state dtype, device, slots) come from
  // hosted(model, variant, like).
  StatusOr<ModelLoadResult> loadLocked(const LoadRequest& request, const ModelInfo* like = nullptr);

  Engine& engine_;
  std::mutex mutex_;  // one operation at a time
};

}  // namespace mamba::admin
