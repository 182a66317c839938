#include "bench/bench_support.h"

#include <algorithm>
#include <chrono>

#ifdef MAMBA_BENCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>

#include "server/model/cuda_graph_decoder.h"
#include "server/model/cuda_graph_prefiller.h"
#endif
#include "server/model/random_init.h"
#include "server/model/state_padding.h"

namespace mamba::bench {

void addCommonOptions(CLI::App& app, CommonOptions& o, const std::string& deviceHelp) {
  app.add_option("--preset", o.preset)->capture_default_str();
  app.add_option("--device", o.device, deviceHelp)->capture_default_str();
  app.add_option("--dtype", o.dtype)->capture_default_str();
  app.add_option("--state-dtype", o.stateDtype, "SSM state: fp32 | bf16")->capture_default_str();
  app.add_option("--json", o.json);
  app.add_option("--markdown", o.markdown);
  app.add_option("--label", o.label, "free text recorded with the results (commit, notes)");
}

StatusOr<BenchSetup> parseSetup(const CommonOptions& o) {
  const std::string &preset = o.preset, &device = o.device, &dtype = o.dtype, &stateDtype = o.stateDtype;
  BenchSetup setup;
  MAMBA_ASSIGN_OR_RETURN(setup.config, presetConfig(preset));
  try {
    setup.device = torch::Device(device);
  } catch (const c10::Error&) {
    return invalidArgument("--device must be cpu or cuda[:N], got '" + device + "'");
  }
  if (setup.device.is_cuda() && !setup.device.has_index()) setup.device = torch::Device(torch::kCUDA, 0);
  if (setup.device.is_cuda() && !torch::cuda::is_available()) {
    return failedPrecondition("--device " + device + ": CUDA is not available");
  }
  MAMBA_ASSIGN_OR_RETURN(setup.dtype, parseDTypeName(dtype));
  MAMBA_ASSIGN_OR_RETURN(setup.stateDtype, parseDTypeName(stateDtype));
  return setup;
}

void sync(torch::Device device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.index());
}

double timeIt(torch::Device device, int warmup, int iters, const std::function<void()>& fn) {
  using Clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) fn();
  sync(device);
  std::vector<double> t;
  for (int i = 0; i < std::max(iters, 1); ++i) {
    const auto t0 = Clock::now();
    fn();
    sync(device);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void resetPeakMemory(torch::Device device) {
#ifdef MAMBA_BENCH_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#endif
  (void)device;
}

double peakMemoryBytes(torch::Device device) {
#ifdef MAMBA_BENCH_CUDA
  if (device.is_cuda()) {
    return static_cast<double>(c10::cuda::CUDACachingAllocator::getDeviceStats(device.index()).allocated_bytes[0].peak);
  }
#endif
  (void)device;
  return 0;
}

Hardware measureHardware(torch::Device device, torch::ScalarType dtype) {
  Hardware hw;
  const int64_t copyBytes = device.is_cuda() ? int64_t{1} << 30 : int64_t{1} << 28;
  torch::Tensor src = torch::empty({copyBytes}, torch::TensorOptions().dtype(torch::kUInt8).device(device));
  torch::Tensor dst = torch::empty_like(src);
  hw.bandwidth = 2.0 * static_cast<double>(copyBytes) / timeIt(device, 3, 10, [&] { dst.copy_(src); });
  src = dst = torch::Tensor();
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  torch::Tensor a = torch::randn({n, n}, torch::TensorOptions().dtype(dtype).device(device));
  torch::Tensor b = torch::randn({n, n}, a.options());
  hw.peakFlops = 2.0 * static_cast<double>(n * n * n) / timeIt(device, 3, 10, [&] { torch::matmul(a, b); });
  hw.matmulSize = n;
  return hw;
}

namespace {

// Zeroes, per layer and group, the in_proj rows, conv weights and conv biases of the first
// floor(N r) states' B and C channels (pruning's sparse-masked variant; which states does not
// change the work).
void maskStates(ModelWeights& w, const ModelConfig& config, double ratio) {
  torch::NoGradGuard noGrad;
  const int64_t Di = config.dInner, G = config.nGroups;
  for (int64_t l = 0; l < config.nLayer; ++l) {
    auto& lw = w.layers[static_cast<size_t>(l)];
    const int64_t N = config.stateSize(l), k = static_cast<int64_t>(static_cast<double>(N) * ratio);
    for (int64_t g = 0; g < G; ++g) {
      for (int64_t part = 0; part < 2; ++part) {        // B then C
        const int64_t c0 = Di + part * G * N + g * N;  // conv channel of state 0
        lw.inProj.narrow(0, Di + c0, k).zero_();
        lw.convWeight.narrow(0, c0, k).zero_();
        if (lw.convBias.defined()) lw.convBias.narrow(0, c0, k).zero_();
      }
    }
  }
}

}  // namespace

StatusOr<LoadedCheckpoint> checkpointModel(const std::string& dir, torch::ScalarType dtype, torch::Device device,
                                           double maskedRatio) {
  MAMBA_ASSIGN_OR_RETURN(LoadedCheckpoint ckpt, loadCheckpoint(dir, LoadOptions{dtype, device}));
  if (maskedRatio > 0) maskStates(ckpt.weights, ckpt.config, maskedRatio);
  return ckpt;
}

Mamba2Model servedModel(ModelConfig config, ModelWeights weights) {
  StatusOr<int64_t> padded = padStatesForServing(config, weights, weights.device, weights.dtype);
  if (!padded.isOk()) throw StatusError(padded.status());
  return Mamba2Model(std::move(config), std::move(weights));
}

Mamba2Model benchModel(const ModelConfig& config, torch::ScalarType dtype, torch::Device device, double maskedRatio) {
  ModelWeights w = randomWeights(config, 0);
  if (maskedRatio > 0) maskStates(w, config, maskedRatio);
  return servedModel(config, castWeights(std::move(w), dtype, device));
}

DecodeRunner::DecodeRunner(const Mamba2Model& model, int64_t batch, torch::ScalarType stateDtype, bool useGraphs)
    : pool_(model.config(), batch, model.device(), stateDtype),
      tokens_(static_cast<size_t>(batch), 7), slots_(static_cast<size_t>(batch)) {
  for (int64_t i = 0; i < batch; ++i) slots_[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  step_ = [this, &model] { model.decode(tokens_, slots_, pool_); };
#ifdef MAMBA_BENCH_CUDA
  if (model.device().is_cuda() && useGraphs) {
    auto graphs = std::make_shared<CudaGraphDecoder>(model, pool_, batch);
    step_ = [this, g = graphs.get()] { g->decode(tokens_, slots_); };
    graphs_ = std::move(graphs);
  }
#endif
  (void)useGraphs;
}

PrefillRunner::PrefillRunner(const Mamba2Model& model, int64_t batch, int64_t length, torch::ScalarType stateDtype,
                             bool useGraphs)
    : pool_(model.config(), batch, model.device(), stateDtype),
      ids_(static_cast<size_t>(batch), std::vector<int32_t>(static_cast<size_t>(length), 11)) {
  for (int64_t i = 0; i < batch; ++i) seqs_.push_back({ids_[static_cast<size_t>(i)], static_cast<int32_t>(i), false});
  step_ = [this, &model] { model.prefill(seqs_, pool_, LogitsMode::kLast); };
#ifdef MAMBA_BENCH_CUDA
  // Short prefills replay CUDA graphs, as the serving engine does (torch_backend.cc).
  if (model.device().is_cuda() && useGraphs && batch <= CudaGraphPrefiller::kMaxBatch &&
      length <= CudaGraphPrefiller::kMaxTokens) {
    auto prefiller = std::make_shared<CudaGraphPrefiller>(model, pool_, batch, length);
    step_ = [this, p = prefiller.get()] { p->prefill(seqs_, LogitsMode::kLast); };
    prefiller_ = std::move(prefiller);
  }
#endif
  (void)useGraphs;
}

double decodeFloorSeconds(const ModelConfig&, const Hardware& hw, double weightBytes, int64_t batch,
                          int64_t stateBytesPerSequence) {
  return (weightBytes + 2.0 * static_cast<double>(batch * stateBytesPerSequence)) / hw.bandwidth;
}

double prefillFloorSeconds(const ModelConfig& config, const Hardware& hw, double weightBytes, int64_t batch,
                           int64_t length) {
  // Per chunk and head: CB (2QQN), intra output (2QQP), states (2QPN), inter output (2QPN).
  const double tokens = static_cast<double>(batch * length);
  double ssd = 0;
  for (int64_t l = 0; l < config.nLayer; ++l) {
    const double Q = static_cast<double>(config.chunkSize), N = static_cast<double>(config.stateSize(l));
    const double P = static_cast<double>(config.headDim), H = static_cast<double>(config.nHeads);
    ssd += tokens / Q * H * (2 * Q * Q * N + 2 * Q * Q * P + 4 * Q * P * N);
  }
  const double params = static_cast<double>(config.parameterCount());
  const double nonEmbed = params - static_cast<double>(config.vocabSize * config.dModel);
  const double flops = 2.0 * nonEmbed * tokens + ssd + 2.0 * static_cast<double>(batch * config.dModel * config.vocabSize);
  return std::max(flops / hw.peakFlops, weightBytes / hw.bandwidth);
}

}  // namespace mamba::bench
