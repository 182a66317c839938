// mamba-bench: engine-level latency of prefill and decode on one device, each figure beside
// its hardware floor (bytes / measured copy bandwidth, FLOPs / measured matmul peak).
//
//   mamba-bench --preset 130m --device cuda --dtype bf16 --json out.json --markdown out.md
//
// Random weights at the published shapes (the figures do not depend on the values). Decode
// runs the whole-model step (CUDA-graph replay where available); prefill computes logits of
// the last position only.
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>
#ifdef MAMBA_BENCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>

#include "bench/decode_breakdown.h"
#endif

#include "bench/bench_support.h"
#include "server/common/crash_report.h"
#include "server/model/random_init.h"

using namespace mamba::bench;  // NOLINT: a program's main file

int main(int argc, char** argv) {
  mamba::installCrashReport("mamba-bench");
  CLI::App app{"mamba-bench: prefill/decode latency vs hardware floor"};
  CommonOptions common;
  std::vector<int64_t> decodeBatches = {1, 8, 64, 256};
  std::vector<int64_t> prefillBatches = {1, 8};
  std::vector<int64_t> prefillLens = {64, 512, 2048, 4096, 8192, 16384};
  int iters = 10;
  bool useGraphs = true, maxConcurrency = false, breakdown = false;
  int64_t stateSize = 0;
  std::string modelDir;
  app.add_option("--model", modelDir,
                 "a checkpoint directory (HF mamba2 or mamba_ssm) to time instead of the preset's random weights");
  addCommonOptions(app, common);
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
  CLI11_PARSE(app, argc, argv);

  torch::NoGradGuard noGrad;
  auto setup = parseSetup(common);
  if (!setup.isOk()) {
    std::cerr << setup.status().toString() << "\n";
    return 1;
  }
  const torch::Device dev = setup->device;
  const torch::ScalarType dtype = setup->dtype, stateDtype = setup->stateDtype;
  mamba::ModelConfig& cfg = setup->config;
  if (maxConcurrency && !dev.is_cuda()) {  // the probe allocates until it fails: the host's memory
    std::cerr << "--max-concurrency needs a CUDA device (on the CPU it would allocate the machine's memory)\n";
    return 1;
  }
  std::optional<mamba::LoadedCheckpoint> ckpt;
  if (!modelDir.empty()) {
    if (stateSize > 0) {
      std::cerr << "--state-size applies to the preset's random weights, not to --model\n";
      return 1;
    }
    auto loaded = checkpointModel(modelDir, dtype, dev, maskedRatio);
    if (!loaded.isOk()) {
      std::cerr << loaded.status().toString() << "\n";
      return 1;
    }
    ckpt = std::move(loaded).value();
    cfg = ckpt->config;
  }
  if (stateSize > 0) cfg.stateSizes.assign(static_cast<size_t>(cfg.nLayer), stateSize);
  if (chunkSize > 0) cfg.chunkSize = chunkSize;
  const Hardware hw = measureHardware(dev, dtype);
  const double bandwidth = hw.bandwidth, peakFlops = hw.peakFlops;
  const int64_t n = hw.matmulSize;
  const mamba::Mamba2Model model =
      ckpt ? servedModel(cfg, std::move(ckpt->weights)) : benchModel(cfg, dtype, dev, maskedRatio);
  const double elem = static_cast<double>(c10::elementSize(dtype));
  const double params = static_cast<double>(cfg.parameterCount());
  const double weightBytes = params * elem;

  nlohmann::json results;
  results["preset"] = modelDir.empty() ? common.preset : "";
  results["model"] = modelDir;
  results["device"] = common.device;
  results["dtype"] = common.dtype;
  results["state_dtype"] = common.stateDtype;
  results["label"] = common.label;
  results["cuda_graphs"] = useGraphs;
  results["state_sizes"] = cfg.stateSizes;
  results["served_state_sizes"] = model.config().stateSizes;  // padded on CUDA (state_padding.h)
  results["chunk_size"] = cfg.chunkSize;
  results["masked_ratio"] = maskedRatio;
  results["copy_bandwidth_GBps"] = bandwidth / 1e9;
  results["matmul_peak_TFLOPs"] = peakFlops / 1e12;
  results["parameters"] = params;
  std::ostringstream md;
  md << std::fixed << std::setprecision(3);
  md << "| phase | batch | length | time ms | floor ms | ratio | peak mem MiB |\n|---|---|---|---|---|---|---|\n";

  for (int64_t B : decodeBatches) {
    resetPeakMemory(dev);
    DecodeRunner runner(model, B, stateDtype, useGraphs);
    const double t = timeIt(dev, 3, iters, [&] { runner.run(); });
    const double floor = decodeFloorSeconds(cfg, hw, weightBytes, B, runner.pool().bytesPerSequence());
    results["decode"].push_back({{"batch", B}, {"tpot_ms", t * 1e3}, {"floor_ms", floor * 1e3},
                                 {"ratio", t / floor}, {"peak_mem_MiB", peakMemoryBytes(dev) / 1048576.0}});
    md << "| decode | " << B << " | 1 | " << t * 1e3 << " | " << floor * 1e3 << " | " << t / floor << " | "
       << peakMemoryBytes(dev) / 1048576.0 << " |\n";
    std::cerr << "decode B=" << B << " " << t * 1e3 << " ms (floor " << floor * 1e3 << ")\n";
#ifdef MAMBA_BENCH_CUDA
    if (breakdown && dev.is_cuda()) {
      nlohmann::json b = mamba::bench::decodeBreakdown(model, runner.pool(), B);
      b["step_ms"] = t * 1e3;
      // What the row blocks' streams hide of running them one after another (0: no overlap).
      if (b.contains("serial_parts_ms")) b["overlap_ms"] = b["serial_parts_ms"].get<double>() - t * 1e3;
      std::cerr << "  breakdown " << b.dump() << "\n";
      results["decode_breakdown"].push_back(b);
    }
#endif
  }
  for (int64_t B : prefillBatches) {
    for (int64_t L : prefillLens) {
      resetPeakMemory(dev);
      std::unique_ptr<PrefillRunner> runner;
      double t;
      try {
        runner = std::make_unique<PrefillRunner>(model, B, L, stateDtype, useGraphs);
        t = timeIt(dev, 1, std::max(3, iters / 3), [&] { runner->run(); });
      } catch (const c10::Error& e) {
        std::cerr << "prefill B=" << B << " L=" << L << " failed: " << e.what_without_backtrace() << "\n";
        results["prefill"].push_back({{"batch", B}, {"length", L}, {"error", "out of memory or failure"}});
        continue;
      }
      const bool graphed = runner->graphed();
      const double floor = prefillFloorSeconds(cfg, hw, weightBytes, B, L);
      results["prefill"].push_back({{"batch", B}, {"length", L}, {"cuda_graph", graphed}, {"ms", t * 1e3}, {"floor_ms", floor * 1e3},
                                    {"ratio", t / floor}, {"peak_mem_MiB", peakMemoryBytes(dev) / 1048576.0}});
      md << "| prefill | " << B << " | " << L << " | " << t * 1e3 << " | " << floor * 1e3 << " | " << t / floor
         << " | " << peakMemoryBytes(dev) / 1048576.0 << " |\n";
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
        mamba::StatePool probe(model.config(), mid, dev, stateDtype);  // the served state widths
        lo = mid;
      } catch (const std::exception&) {
        hi = mid;
      }
#ifdef MAMBA_BENCH_CUDA
      if (dev.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
    }
    mamba::StatePool one(model.config(), 1, dev, stateDtype);
    results["max_concurrent_sequences"] = lo;
    results["state_bytes_per_sequence"] = one.bytesPerSequence();
    md << "\nMax concurrent sequences (state slots beside the model): " << lo << " at "
       << static_cast<double>(one.bytesPerSequence()) / 1e6 << " MB of state each.\n";
    std::cerr << "max concurrent sequences " << lo << "\n";
  }
  md << "\nCopy bandwidth " << bandwidth / 1e9 << " GB/s (read+write), matmul peak " << peakFlops / 1e12
     << " TFLOP/s (" << common.dtype << ", n=" << n << "), " << params / 1e6 << " M parameters.\n";
  std::cout << results.dump(2) << "\n" << md.str();
  if (!common.json.empty()) std::ofstream(common.json) << results.dump(2) << "\n";
  if (!common.markdown.empty()) std::ofstream(common.markdown) << md.str();
  return 0;
}
