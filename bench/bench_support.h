// What the benchmark programs share: timing, peak memory, the measured hardware floor, the
// random-weight model on a device (dense, sparse-masked or compacted), and runners for one
// decode step and one prefill call as the serving engine executes them (CUDA graphs where the
// engine uses them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <torch/torch.h>

#include "server/model/checkpoint.h"
#include "server/model/mamba2_model.h"
#include "server/model/state_pool.h"

namespace mamba::bench {

// The options every benchmark program takes (as given, with their defaults).
struct CommonOptions {
  std::string preset = "130m", device = "cuda", dtype = "bf16", stateDtype = "fp32";
  std::string json, markdown, label;  // output files ("" = none), free text for the results
};
// Registers --preset, --device, --dtype, --state-dtype, --json, --markdown and --label.
void addCommonOptions(CLI::App& app, CommonOptions& options, const std::string& deviceHelp = "cuda[:N] | cpu");

// What the common options mean once parsed.
struct BenchSetup {
  ModelConfig config;
  torch::Device device = torch::kCPU;  // "cuda" means cuda:0
  torch::ScalarType dtype = torch::kBFloat16, stateDtype = torch::kFloat32;
};
// The preset's config, the device (CUDA must be available for it) and the parsed dtypes, or
// the first error (naming the bad value).
StatusOr<BenchSetup> parseSetup(const CommonOptions& options);

// Waits for the device's work (no-op on CPU).
void sync(torch::Device device);

// Median wall time of `fn` in seconds over `iters` runs after `warmup` runs, each run
// followed by a device synchronization.
double timeIt(torch::Device device, int warmup, int iters, const std::function<void()>& fn);

void resetPeakMemory(torch::Device device);
double peakMemoryBytes(torch::Device device);  // 0 on CPU

// Measured now on `device`: copy bandwidth (bytes read + written per second, 1 GiB copies;
// 256 MiB on CPU)
// and matmul peak (FLOP/s of an n x n x n product in `dtype`, n = 8192 on CUDA, 1024 on CPU).
struct Hardware {
  double bandwidth = 0, peakFlops = 0;
  int64_t matmulSize = 0;
};
Hardware measureHardware(torch::Device device, torch::ScalarType dtype);

// randomWeights(config, 0) in `dtype` on `device` (fp32 per-head vectors, as the loader keeps
// them). maskedRatio > 0 zeroes, per layer and group, the in_proj rows, conv weights and conv
// biases of the first floor(N r) states' B and C channels, as pruning's sparse-masked variant
// does (which states are masked does not change the work), served as servedModel serves it.
Mamba2Model benchModel(const ModelConfig& config, torch::ScalarType dtype, torch::Device device,
                       double maskedRatio = 0);
// The model as the server serves (config, weights): state widths padded where the server pads
// them (state_padding.h: unaligned N_i on CUDA), so its config() gives the served N_i while
// `config` stays the checkpoint's. Throws StatusError when the shapes do not match the config.
Mamba2Model servedModel(ModelConfig config, ModelWeights weights);
// A checkpoint (HF mamba2 or mamba_ssm directory) loaded in `dtype` on `device`, masked as
// benchModel does when maskedRatio > 0 (not padded: time it through servedModel); errors name
// the directory or file.
StatusOr<LoadedCheckpoint> checkpointModel(const std::string& dir, torch::ScalarType dtype, torch::Device device,
                                           double maskedRatio = 0);

// One decode step of `batch` sequences in slots 0..batch-1 of its own pool, replayed from a
// CUDA graph on CUDA when useGraphs (as the engine decodes).
class DecodeRunner {
 public:
  DecodeRunner(const Mamba2Model& model, int64_t batch, torch::ScalarType stateDtype, bool useGraphs);
  void run() { step_(); }
  StatePool& pool() { return pool_; }

 private:
  StatePool pool_;
  std::vector<int32_t> tokens_, slots_;
  std::shared_ptr<void> graphs_;  // the CudaGraphDecoder, when used
  std::function<void()> step_;
};

// One prefill call of `batch` fresh sequences of `length` tokens (logits of the last position
// only), replayed from a CUDA graph when the engine would (CudaGraphPrefiller's limits).
class PrefillRunner {
 public:
  PrefillRunner(const Mamba2Model& model, int64_t batch, int64_t length, torch::ScalarType stateDtype,
                bool useGraphs);
  void run() { step_(); }
  bool graphed() const { return prefiller_ != nullptr; }

 private:
  StatePool pool_;
  std::vector<std::vector<int32_t>> ids_;
  std::vector<PrefillSequence> seqs_;
  std::shared_ptr<void> prefiller_;  // the CudaGraphPrefiller, when used
  std::function<void()> step_;
};

// Floors: decode reads every weight once and reads and writes each sequence's state; prefill
// is the larger of its FLOPs (2 x non-embedding parameters per token, the SSD products per
// chunk and head, the last position's lm_head) at peak and one read of the weights.
double decodeFloorSeconds(const ModelConfig& config, const Hardware& hw, double weightBytes, int64_t batch,
                          int64_t stateBytesPerSequence);
double prefillFloorSeconds(const ModelConfig& config, const Hardware& hw, double weightBytes, int64_t batch,
                           int64_t length);

}  // namespace mamba::bench
