// mamba-bench: engine-level latency of prefill and decode on one device, each figure beside
// its hardware floor (bytes / measured copy bandwidth, FLOPs / measured matmul peak).
//
//   mamba-bench --preset 130m --device cuda --dtype bf16 --json out.json --markdown out.md
//
// Random weights at the published shapes (the figures do not depend on the values). Decode
// runs the whole-model step (CUDA-graph replay where available); prefill computes logits of
// the last position only.
#include <chrono>
#include <functional>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#ifdef MAMBA_BENCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>

#include "server/model/cuda_graph_decoder.h"
#include "server/model/cuda_graph_prefiller.h"
#include "bench/decode_breakdown.h"
#endif

#include "server/model/checkpoint.h"
#include "server/model/mamba2_model.h"
#include "server/model/random_init.h"

namespace {

using Clock = std::chrono::steady_clock;
using mamba::Mamba2Model;

void sync(torch::Device d) {
  if (d.is_cuda()) torch::cuda::synchronize(d.index());
}

// Median wall time of `fn` in seconds over `iters` runs after `warmup` runs.
template <typename Fn>
double timeIt(torch::Device d, int warmup, int iters, Fn&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  sync(d);
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    auto t0 = Clock::now();
    fn();
    sync(d);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void resetPeak(torch::Device d) {
#ifdef MAMBA_BENCH_CUDA
  if (d.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(d.index());
#endif
  (void)d;
}
double peakBytes(torch::Device d) {
#ifdef MAMBA_BENCH_CUDA
  if (d.is_cuda()) {
    auto s = c10::cuda::CUDACachingAllocator::getDeviceStats(d.index());
    return static_cast<double>(s.allocated_bytes[0].peak);
  }
#endif
  (void)d;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mamba-bench: prefill/decode latency vs hardware floor"};
  std::string preset = "130m", device = "cuda", dtypeName = "bf16", stateDtypeName = "fp32", jsonOut, mdOut, label;
  std::vector<int64_t> decodeBatches = {1, 8, 64, 256};
  std::vector<int64_t> prefillBatches = {1, 8};
  std::vector<int64_t> prefillLens = {64, 512, 2048, 4096, 8192, 16384};
  int iters = 10;
  bool useGraphs = true, maxConcurrency = false, breakdown = false;
  int64_t stateSize = 0;
  app.add_option("--preset", preset)->capture_default_str();
  app.add_option("--device", device)->capture_default_str();
  app.add_option("--dtype", dtypeName)->capture_default_str();
  app.add_option("--state-dtype", stateDtypeName, "SSM state: fp32 | bf16")->capture_default_str();
  app.add_flag("--breakdown", breakdown, "per-kernel in-graph time of one decode layer at each decode batch");
  app.add_flag("--max-concurrency", maxConcurrency,
               "also find the most state slots that fit in device memory beside the model");
  app.add_option("--decode-batches", decodeBatches)->delimiter(',');
  app.add_option("--prefill-batches", prefillBatches)->delimiter(',');
  app.add_option("--prefill-lens", prefillLens)->delimiter(',');
  app.add_option("--iters", iters)->capture_default_str();
  app.add_flag("!--no-graphs", useGraphs, "decode eagerly instead of replaying CUDA graphs");
  app.add_option("--state-size", stateSize, "override N in every layer (a compacted model; 0 = preset)");
  int64_t chunkSize = 0;
  app.add_option("--chunk-size", chunkSize, "override the SSD chunk size Q of prefill (0 = preset; numerics only)");
  double maskedRatio = 0;
  app.add_option("--masked-ratio", maskedRatio,
                 "zero the B/C channels of floor(N r) states per layer (a sparse-masked model: dense shapes)")
      ->check(CLI::Range(0.0, 0.999));
  app.add_option("--json", jsonOut);
  app.add_option("--markdown", mdOut);
  app.add_option("--label", label, "free text recorded with the results (commit, notes)");
  CLI11_PARSE(app, argc, argv);

  torch::NoGradGuard noGrad;
  torch::Device dev(device);
  if (dev.is_cuda() && !dev.has_index()) dev = torch::Device(torch::kCUDA, 0);
  auto dtype = mamba::parseDTypeName(dtypeName);
  auto stateDtype = mamba::parseDTypeName(stateDtypeName);
  auto cfg = mamba::presetConfig(preset);
  for (const mamba::Status& st : {dtype.status(), stateDtype.status(), cfg.status()}) {
    if (!st.isOk()) {
      std::cerr << st.toString() << "\n";
      return 1;
    }
  }
  if (stateSize > 0) cfg->stateSizes.assign(static_cast<size_t>(cfg->nLayer), stateSize);
  if (chunkSize > 0) cfg->chunkSize = chunkSize;
  // Hardware: copy bandwidth (read + write bytes) and bf16 matmul peak, measured now.
  const int64_t copyBytes = int64_t{1} << 30;
  torch::Tensor src = torch::empty({copyBytes}, torch::TensorOptions().dtype(torch::kUInt8).device(dev));
  torch::Tensor dst = torch::empty_like(src);
  double tCopy = timeIt(dev, 3, 10, [&] { dst.copy_(src); });
  const double bandwidth = 2.0 * static_cast<double>(copyBytes) / tCopy;
  src = dst = torch::Tensor();
  const int64_t n = dev.is_cuda() ? 8192 : 1024;
  torch::Tensor a = torch::randn({n, n}, torch::TensorOptions().dtype(*dtype).device(dev));
  torch::Tensor b = torch::randn({n, n}, a.options());
  double tMm = timeIt(dev, 3, 10, [&] { torch::matmul(a, b); });
  const double peakFlops = 2.0 * static_cast<double>(n * n * n) / tMm;
  a = b = torch::Tensor();

  mamba::ModelWeights w = mamba::randomWeights(*cfg, 0);
  if (maskedRatio > 0) {
    // As pruning/surgery.cc's masked variant: in_proj rows, conv weights and conv biases of the
    // pruned states' B and C channels are zero. Which states does not matter for timing.
    const int64_t Di = cfg->dInner, G = cfg->nGroups;
    for (int64_t l = 0; l < cfg->nLayer; ++l) {
      auto& lw = w.layers[static_cast<size_t>(l)];
      const int64_t N = cfg->stateSize(l), k = static_cast<int64_t>(static_cast<double>(N) * maskedRatio);
      for (int64_t g = 0; g < G; ++g) {
        for (int64_t part = 0; part < 2; ++part) {  // B then C
          const int64_t c0 = Di + part * G * N + g * N;  // conv channel of state 0
          lw.inProj.narrow(0, Di + c0, k).zero_();
          lw.convWeight.narrow(0, c0, k).zero_();
          if (lw.convBias.defined()) lw.convBias.narrow(0, c0, k).zero_();
        }
      }
    }
  }
  // Move to device/dtype (fp32 for the per-head vectors, as the loader does).
  auto to = [&](torch::Tensor& t, bool keepFp32) {
    if (t.defined()) t = t.to(dev, keepFp32 ? torch::kFloat32 : *dtype).contiguous();
  };
  to(w.embedding, false);
  to(w.normF, false);
  w.lmHead = w.embedding;
  for (auto& l : w.layers) {
    for (torch::Tensor* t : {&l.norm, &l.inProj, &l.inProjBias, &l.convWeight, &l.convBias, &l.gatedNorm, &l.outProj, &l.outProjBias}) to(*t, false);
    for (torch::Tensor* t : {&l.dtBias, &l.aLog, &l.A, &l.D}) to(*t, true);
  }
  w.dtype = *dtype;
  w.device = dev;
  Mamba2Model model(*cfg, std::move(w));
  const double elem = static_cast<double>(c10::elementSize(*dtype));
  const double params = static_cast<double>(cfg->parameterCount());
  const double weightBytes = params * elem;
  const double nonEmbedParams = params - static_cast<double>(cfg->vocabSize * cfg->dModel);

  nlohmann::json results;
  results["preset"] = preset;
  results["device"] = device;
  results["dtype"] = dtypeName;
  results["state_dtype"] = stateDtypeName;
  results["label"] = label;
  results["cuda_graphs"] = useGraphs;
  results["state_sizes"] = cfg->stateSizes;
  results["chunk_size"] = cfg->chunkSize;
  results["masked_ratio"] = maskedRatio;
  results["copy_bandwidth_GBps"] = bandwidth / 1e9;
  results["matmul_peak_TFLOPs"] = peakFlops / 1e12;
  results["parameters"] = params;
  std::ostringstream md;
  md << std::fixed << std::setprecision(3);
  md << "| phase | batch | length | time ms | floor ms | ratio | peak mem MiB |\n|---|---|---|---|---|---|---|\n";

  for (int64_t B : decodeBatches) {
    mamba::StatePool pool(*cfg, B, dev, *stateDtype);
    std::vector<int32_t> slots(static_cast<size_t>(B)), tokens(static_cast<size_t>(B), 7);
    for (int64_t i = 0; i < B; ++i) slots[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    resetPeak(dev);
    std::function<void()> step = [&] { model.decode(tokens, slots, pool); };
#ifdef MAMBA_BENCH_CUDA
    std::unique_ptr<mamba::CudaGraphDecoder> graphs;
    if (dev.is_cuda() && useGraphs) {
      graphs = std::make_unique<mamba::CudaGraphDecoder>(model, pool, B);
      step = [&] { graphs->decode(tokens, slots); };
    }
#endif
    double t = timeIt(dev, 3, iters, step);
    // Floor: read all weights once + read and write every sequence's state.
    const double bytes = weightBytes + 2.0 * static_cast<double>(B * pool.bytesPerSequence());
    const double floor = bytes / bandwidth;
    results["decode"].push_back({{"batch", B}, {"tpot_ms", t * 1e3}, {"floor_ms", floor * 1e3},
                                 {"ratio", t / floor}, {"peak_mem_MiB", peakBytes(dev) / 1048576.0}});
    md << "| decode | " << B << " | 1 | " << t * 1e3 << " | " << floor * 1e3 << " | " << t / floor << " | "
       << peakBytes(dev) / 1048576.0 << " |\n";
    std::cerr << "decode B=" << B << " " << t * 1e3 << " ms (floor " << floor * 1e3 << ")\n";
#ifdef MAMBA_BENCH_CUDA
    if (breakdown && dev.is_cuda()) {
      nlohmann::json b = mamba::bench::decodeBreakdown(model, pool, B);
      b["step_ms"] = t * 1e3;
      std::cerr << "  breakdown " << b.dump() << "\n";
      results["decode_breakdown"].push_back(b);
    }
#endif
  }
  for (int64_t B : prefillBatches) {
    for (int64_t L : prefillLens) {
      mamba::StatePool pool(*cfg, B, dev, *stateDtype);
      std::vector<std::vector<int32_t>> ids(static_cast<size_t>(B), std::vector<int32_t>(static_cast<size_t>(L), 11));
      std::vector<mamba::PrefillSequence> seqs;
      for (int64_t i = 0; i < B; ++i) seqs.push_back({ids[static_cast<size_t>(i)], static_cast<int32_t>(i), false});
      resetPeak(dev);
      std::function<void()> run = [&] { model.prefill(seqs, pool, mamba::LogitsMode::kLast); };
      bool graphed = false;
#ifdef MAMBA_BENCH_CUDA
      // Short prefills replay CUDA graphs, as the serving engine does (torch_backend.cc).
      std::unique_ptr<mamba::CudaGraphPrefiller> prefiller;
      if (dev.is_cuda() && useGraphs && B <= mamba::CudaGraphPrefiller::kMaxBatch &&
          L <= mamba::CudaGraphPrefiller::kMaxTokens) {
        prefiller = std::make_unique<mamba::CudaGraphPrefiller>(model, pool, B, L);
        run = [&] { prefiller->prefill(seqs, mamba::LogitsMode::kLast); };
        graphed = true;
      }
#endif
      double t;
      try {
        t = timeIt(dev, 1, std::max(3, iters / 3), run);
      } catch (const c10::Error& e) {
        std::cerr << "prefill B=" << B << " L=" << L << " failed: " << e.what_without_backtrace() << "\n";
        results["prefill"].push_back({{"batch", B}, {"length", L}, {"error", "out of memory or failure"}});
        continue;
      }
      // Floor: projection FLOPs (2 * non-embedding params per token) plus the SSD matmuls
      // (per chunk and head: CB (2QQN), intra output (2QQP), states (2QPN), inter output (2QPN)).
      const double tokens = static_cast<double>(B * L);
      double ssd = 0;
      for (int64_t l = 0; l < cfg->nLayer; ++l) {
        const double Q = static_cast<double>(cfg->chunkSize), N = static_cast<double>(cfg->stateSize(l));
        const double P = static_cast<double>(cfg->headDim), H = static_cast<double>(cfg->nHeads);
        ssd += tokens / Q * H * (2 * Q * Q * N + 2 * Q * Q * P + 4 * Q * P * N);
      }
      const double flops = 2.0 * nonEmbedParams * tokens + ssd + 2.0 * static_cast<double>(B * cfg->dModel * cfg->vocabSize);
      const double floor = std::max(flops / peakFlops, weightBytes / bandwidth);
      results["prefill"].push_back({{"batch", B}, {"length", L}, {"cuda_graph", graphed}, {"ms", t * 1e3}, {"floor_ms", floor * 1e3},
                                    {"ratio", t / floor}, {"peak_mem_MiB", peakBytes(dev) / 1048576.0}});
      md << "| prefill | " << B << " | " << L << " | " << t * 1e3 << " | " << floor * 1e3 << " | " << t / floor
         << " | " << peakBytes(dev) / 1048576.0 << " |\n";
      std::cerr << "prefill B=" << B << " L=" << L << " " << t * 1e3 << " ms (floor " << floor * 1e3 << ")\n";
    }
  }
  if (maxConcurrency) {
    // Largest state pool that can be allocated beside the resident model (binary search on
    // real allocations; activations of a decode step are small next to the states).
    int64_t lo = 0, hi = int64_t{1} << 22;
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      try {
        mamba::StatePool probe(*cfg, mid, dev, *stateDtype);
        lo = mid;
      } catch (const std::exception&) {
        hi = mid;
      }
#ifdef MAMBA_BENCH_CUDA
      if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
    }
    mamba::StatePool one(*cfg, 1, dev, *stateDtype);
    results["max_concurrent_sequences"] = lo;
    results["state_bytes_per_sequence"] = one.bytesPerSequence();
    md << "\nMax concurrent sequences (state slots beside the model): " << lo << " at "
       << static_cast<double>(one.bytesPerSequence()) / 1e6 << " MB of state each.\n";
    std::cerr << "max concurrent sequences " << lo << "\n";
  }
  md << "\nCopy bandwidth " << bandwidth / 1e9 << " GB/s (read+write), matmul peak " << peakFlops / 1e12
     << " TFLOP/s (" << dtypeName << ", n=" << n << "), " << params / 1e6 << " M parameters.\n";
  std::cout << results.dump(2) << "\n" << md.str();
  if (!jsonOut.empty()) std::ofstream(jsonOut) << results.dump(2) << "\n";
  if (!mdOut.empty()) std::ofstream(mdOut) << md.str();
  return 0;
}
