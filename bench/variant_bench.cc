// mamba-variant-bench: dense, sparse-masked and compacted variants of one model shape timed in
// one process, interleaved, so the speed-ups of the pruning study (issue 5, the paper's
// Table 2) are not run-to-run noise between separate benchmark processes.
//
//   mamba-variant-bench --preset 130m --dtype bf16 --masked-ratios 0.5,0.9
//       --ratios 0.1,0.3,0.5,0.7,0.9 --decode-batches 64,256 --prefill 1x16384,8x16384
//       --rounds 5 --json out.json --markdown out.md
//
// Each variant is its own random-weight model: masked r zeroes the B/C channels of floor(N r)
// states per layer (dense shapes), compacted r has N' = floor(N (1 - r)) states per layer,
// served as the server serves it (on CUDA padded with zero channels to an aligned width,
// state_padding.h; the table's N column gives both, state bytes are the served ones).
// For every case (a decode batch or a prefill shape) each of `rounds` rounds times every
// variant once, starting at a rotating variant; one timing is the median of `iters` runs
// (decode: CUDA-graph steps; prefill: calls, graphed where the engine graphs them). Reported
// per variant: the median over rounds, and the speed-up over dense as the median of the
// per-round ratios, with their min and max as the spread of the noise.
#include <algorithm>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench/bench_support.h"
#include "server/common/crash_report.h"
#include "server/model/random_init.h"

using namespace mamba::bench;  // NOLINT: a program's main file

namespace {

struct Variant {
  std::string name;
  double maskedRatio = 0;         // masked variants
  int64_t stateSize = 0;          // N' of compacted variants (0: the preset's N)
  std::unique_ptr<mamba::Mamba2Model> model;
  int64_t stateBytes = 0;         // per sequence
};

// N' of a variant (the preset's N for dense and masked ones), and as the table shows it: with the
// served width when the server pads it (state_padding.h), e.g. "115 (116)".
int64_t keptN(const Variant& v) { return v.stateSize > 0 ? v.stateSize : v.model->config().stateSize(0); }
std::string nColumn(const Variant& v) {
  const int64_t served = v.model->config().stateSize(0);
  return std::to_string(keptN(v)) + (served != keptN(v) ? " (" + std::to_string(served) + ")" : "");
}

struct Case {
  std::string name;
  bool decode = true;
  int64_t batch = 0, length = 1;
};

// The middle value; for an even count the mean of the two middle values.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  mamba::installCrashReport("mamba-variant-bench");
  CLI::App app{"mamba-variant-bench: dense vs masked vs compacted, interleaved in one process"};
  CommonOptions common;
  std::vector<double> maskedRatios = {0.5, 0.9}, ratios = {0.1, 0.3, 0.5, 0.7, 0.9};
  std::vector<int64_t> decodeBatches = {1, 64, 256};
  std::vector<std::string> prefill = {"1x2048", "1x16384", "8x16384"};
  int rounds = 5, iters = 10, prefillIters = 3;
  addCommonOptions(app, common, "cuda[:N] | cpu (cpu: for checking the program, not for timing)");
  app.add_option("--masked-ratios", maskedRatios, "sparse-masked variants")->delimiter(',');
  app.add_option("--ratios", ratios, "compacted variants, N' = floor(N (1 - r))")->delimiter(',');
  app.add_option("--decode-batches", decodeBatches)->delimiter(',');
  app.add_option("--prefill", prefill, "prefill shapes BxL")->delimiter(',');
  app.add_option("--rounds", rounds)->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--iters", iters, "decode steps per timing (median)")->capture_default_str();
  app.add_option("--prefill-iters", prefillIters, "prefill calls per timing (median)")->capture_default_str();
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
  std::vector<Case> cases;
  for (int64_t b : decodeBatches) cases.push_back({"decode B" + std::to_string(b), true, b, 1});
  for (const std::string& s : prefill) {
    const size_t x = s.find('x');
    if (x == std::string::npos) {
      std::cerr << "--prefill: '" << s << "' is not BxL\n";
      return 1;
    }
    cases.push_back({"prefill " + s, false, std::stoll(s.substr(0, x)), std::stoll(s.substr(x + 1))});
  }

  const Hardware hw = measureHardware(dev, dtype);
  const int64_t N = cfg.stateSize(0);
  std::vector<Variant> variants;
  variants.push_back({"dense", 0, 0, nullptr, 0});
  for (double r : maskedRatios) variants.push_back({"masked r=" + std::to_string(r).substr(0, 3), r, 0, nullptr, 0});
  for (double r : ratios) {
    const auto n = static_cast<int64_t>(static_cast<double>(N) * (1.0 - r));
    variants.push_back({"compacted r=" + std::to_string(r).substr(0, 3), 0, std::max<int64_t>(n, 1), nullptr, 0});
  }
  for (Variant& v : variants) {
    mamba::ModelConfig c = cfg;
    if (v.stateSize > 0) c.stateSizes.assign(static_cast<size_t>(c.nLayer), v.stateSize);
    v.model = std::make_unique<mamba::Mamba2Model>(benchModel(c, dtype, dev, v.maskedRatio));
    v.stateBytes = mamba::StatePool(v.model->config(), 1, dev, stateDtype).bytesPerSequence();  // as served
  }

  nlohmann::json results;
  results["preset"] = common.preset;
  results["device"] = dev.str();
  results["dtype"] = common.dtype;
  results["state_dtype"] = common.stateDtype;
  results["label"] = common.label;
  results["rounds"] = rounds;
  results["copy_bandwidth_GBps"] = hw.bandwidth / 1e9;
  results["matmul_peak_TFLOPs"] = hw.peakFlops / 1e12;
  std::ostringstream md;
  md << std::fixed << std::setprecision(3);
  md << "| case | variant | N (served) | ms (median of " << rounds
     << " rounds) | speed-up vs dense: median [min, max] | state MB / seq | state bytes vs dense |\n"
     << "|---|---|---|---|---|---|---|\n";
  const int V = static_cast<int>(variants.size());
  for (const Case& c : cases) {
    // Every variant's runner exists for the whole case, so rounds only time.
    std::vector<std::function<void()>> run(static_cast<size_t>(V));
    std::vector<std::unique_ptr<DecodeRunner>> decoders;
    std::vector<std::unique_ptr<PrefillRunner>> prefillers;
    for (size_t v = 0; v < variants.size(); ++v) {
      const mamba::Mamba2Model& model = *variants[v].model;
      if (c.decode) {
        decoders.push_back(std::make_unique<DecodeRunner>(model, c.batch, stateDtype, true));
        run[v] = [d = decoders.back().get()] { d->run(); };
      } else {
        prefillers.push_back(std::make_unique<PrefillRunner>(model, c.batch, c.length, stateDtype, true));
        run[v] = [p = prefillers.back().get()] { p->run(); };
      }
    }
    std::vector<std::vector<double>> t(static_cast<size_t>(V));
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < V; ++k) {
        const int v = (r + k) % V;
        t[static_cast<size_t>(v)].push_back(
            timeIt(dev, c.decode ? 3 : 1, c.decode ? iters : prefillIters, run[static_cast<size_t>(v)]));
      }
    }
    for (int v = 0; v < V; ++v) {
      const Variant& var = variants[static_cast<size_t>(v)];
      std::vector<double> speedup;
      for (int r = 0; r < rounds; ++r) speedup.push_back(t[0][static_cast<size_t>(r)] / t[static_cast<size_t>(v)][static_cast<size_t>(r)]);
      const double ms = median(t[static_cast<size_t>(v)]) * 1e3;
      const double lo = *std::min_element(speedup.begin(), speedup.end());
      const double hi = *std::max_element(speedup.begin(), speedup.end());
      const double stateRatio = static_cast<double>(var.stateBytes) / static_cast<double>(variants[0].stateBytes);
      results["cases"].push_back({{"case", c.name},
                                  {"decode", c.decode},
                                  {"batch", c.batch},
                                  {"length", c.length},
                                  {"variant", var.name},
                                  {"state_size", keptN(var)},
                                  {"served_state_size", var.model->config().stateSize(0)},
                                  {"ms_rounds", t[static_cast<size_t>(v)]},
                                  {"ms_median", ms},
                                  {"speedup_median", median(speedup)},
                                  {"speedup_min", lo},
                                  {"speedup_max", hi},
                                  {"state_bytes_per_sequence", var.stateBytes}});
      md << "| " << c.name << " | " << var.name << " | " << nColumn(var) << " | " << ms << " | " << median(speedup)
         << "x [" << lo << ", " << hi << "] | " << static_cast<double>(var.stateBytes) / 1e6 << " | " << stateRatio
         << " |\n";
    }
    std::cerr << c.name << " done\n";
  }
  md << "\nCopy bandwidth " << hw.bandwidth / 1e9 << " GB/s (read+write), matmul peak " << hw.peakFlops / 1e12
     << " TFLOP/s (" << common.dtype << "). " << common.label << "\n";
  std::cout << md.str();
  if (!common.json.empty()) std::ofstream(common.json) << results.dump(2) << "\n";
  if (!common.markdown.empty()) std::ofstream(common.markdown) << md.str();
  return 0;
}
