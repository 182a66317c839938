// GPU path (label `gpu`, run on the GPU machine): the CUDA model computes the same function as
// the CPU model. Skips when no CUDA device is present.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>

#include <gtest/gtest.h>

#ifdef MAMBA_HAVE_CUDA_KERNELS
#include "kernels/torch/decode_gemm_ops.h"
#endif
#include "server/model/checkpoint.h"
#include "server/model/cuda_graph_decoder.h"
#include "server/model/cuda_graph_prefiller.h"
#include "server/model/mamba2_model.h"
#include "server/model/random_init.h"
#include "server/model/state_padding.h"
#include "tests/model/model_test_util.h"

namespace mamba {
namespace {

class GpuModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
  static std::pair<std::unique_ptr<Mamba2Model>, std::unique_ptr<Mamba2Model>> load(const std::string& dir) {
    auto cpu = loadCheckpoint(dir, {torch::kFloat32, torch::kCPU});
    auto gpu = loadCheckpoint(dir, {torch::kFloat32, torch::Device(torch::kCUDA, 0)});
    EXPECT_TRUE(cpu.isOk() && gpu.isOk());
    return {std::make_unique<Mamba2Model>(cpu->config, cpu->weights),
            std::make_unique<Mamba2Model>(gpu->config, gpu->weights)};
  }
};

TEST_F(GpuModelTest, PrefillAndDecodeLogitsMatchCpuAndTransformers) {
  for (const char* name : {"g1_n20_p16", "g2_n48_p32", "g4_n16_p16_q64"}) {
    auto [cpu, gpu] = load(testing::hfCaseDir(name));
    auto oracle = testing::loadOracle(name);
    StatePool pc(cpu->config(), 1, torch::kCPU), pg(gpu->config(), 1, torch::Device(torch::kCUDA, 0));
    const auto& s = oracle.sequences.back();
    torch::Tensor lc = cpu->prefill({{s, 0, false}}, pc, LogitsMode::kAll)[0];
    torch::Tensor lg = gpu->prefill({{s, 0, false}}, pg, LogitsMode::kAll)[0].cpu();
    EXPECT_LE(testing::maxRelErr(lg, lc), 1e-4) << name;
    EXPECT_LE(testing::maxRelErr(lg, oracle.logits.back()), 1e-4) << name;
    std::vector<int32_t> tok = {s[0]}, slot = {0};
    EXPECT_LE(testing::maxRelErr(gpu->decode(tok, slot, pg).cpu(), cpu->decode(tok, slot, pc)), 1e-4) << name;
  }
}

TEST_F(GpuModelTest, Greedy64TokensMatchCpuFp32) {
  auto cfg = presetConfig("tiny");
  ASSERT_TRUE(cfg.isOk());
  ModelWeights w = randomWeights(*cfg, 17);
  ModelWeights wg = castWeights(w, torch::kFloat32, torch::Device(torch::kCUDA, 0));
  Mamba2Model cpu(*cfg, w), gpu(*cfg, wg);
  StatePool pc(*cfg, 1, torch::kCPU), pg(*cfg, 1, wg.device);
  std::vector<int32_t> prompt = {3, 14, 15, 92, 65};
  int32_t a = cpu.prefill({{prompt, 0, false}}, pc, LogitsMode::kLast).argmax(-1).item<int32_t>();
  int32_t b = gpu.prefill({{prompt, 0, false}}, pg, LogitsMode::kLast).argmax(-1).item<int32_t>();
  std::vector<int32_t> slot = {0};
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(a, b) << "step " << i;
    std::vector<int32_t> ta = {a}, tb = {b};
    a = cpu.decode(ta, slot, pc).argmax(-1).item<int32_t>();
    b = gpu.decode(tb, slot, pg).argmax(-1).item<int32_t>();
  }
}

// A compacted model with odd N_i, served as the server serves it on CUDA (padded with zero
// channels to an aligned width, state_padding.h: 13 -> 16 and 7 -> 8 states): fp32 on the GPU equals the CPU engine on the
// checkpoint's N_i, and bf16 equals the unpadded bf16 model on the GPU (whose misaligned rows take
// the kernels' element-wise forms), over a ragged prefill and three decode steps of 3 rows.
TEST_F(GpuModelTest, PaddedOddStateSizesComputeTheUnpaddedFunction) {
  const torch::Device dev(torch::kCUDA, 0);
  ModelConfig c = presetConfig("tiny").value();
  c.stateSizes = {13, 7};
  const ModelWeights w = randomWeights(c, 29);
  std::vector<std::vector<int32_t>> tokens(3);
  for (int i = 0; i < 3; ++i) {
    for (int t = 0; t < 40 + 9 * i; ++t) tokens[static_cast<size_t>(i)].push_back((t * 37 + 11 * i) % 500);
  }
  for (torch::ScalarType dtype : {torch::kFloat32, torch::kBFloat16}) {
    const bool fp32 = dtype == torch::kFloat32;
    ModelConfig cp = c;
    ModelWeights wp = castWeights(w, dtype, dev);
    auto changed = padStatesForServing(cp, wp, dev, dtype);
    ASSERT_TRUE(changed.isOk()) << changed.status().toString();
    ASSERT_EQ(*changed, 2);
    ASSERT_EQ(cp.stateSizes, (std::vector<int64_t>{16, 8}));
    const Mamba2Model ref(c, fp32 ? w : castWeights(w, dtype, dev)), padded(cp, wp);
    StatePool pr(ref.config(), 3, ref.device()), pp(padded.config(), 3, dev);
    std::vector<PrefillSequence> seqs;
    for (int i = 0; i < 3; ++i) seqs.push_back({tokens[static_cast<size_t>(i)], i, false});
    const double tol = fp32 ? 1e-4 : 5e-2;
    torch::Tensor a = ref.prefill(seqs, pr, LogitsMode::kAll).cpu(),
                  b = padded.prefill(seqs, pp, LogitsMode::kAll).cpu();
    for (int i = 0; i < 3; ++i) {
      const int64_t len = static_cast<int64_t>(tokens[static_cast<size_t>(i)].size());
      EXPECT_LE(testing::maxRelErr(b[i].narrow(0, 0, len), a[i].narrow(0, 0, len)), tol) << dtype << " sequence " << i;
    }
    const std::vector<int32_t> slots = {0, 1, 2};
    for (int step = 0; step < 3; ++step) {
      const std::vector<int32_t> next = {step + 5, 2 * step + 9, 3 * step + 1};
      EXPECT_LE(testing::maxRelErr(padded.decode(next, slots, pp).cpu(), ref.decode(next, slots, pr).cpu()), tol)
          << dtype << " step " << step;
    }
    for (int64_t l = 0; l < c.nLayer; ++l) {
      const int64_t n = c.stateSize(l);
      torch::Tensor sp = pp.ssm(l).cpu();
      EXPECT_LE(testing::maxRelErr(sp.narrow(3, 0, n), pr.ssm(l).cpu()), tol) << dtype << " layer " << l;
      EXPECT_EQ(sp.narrow(3, n, sp.size(3) - n).abs().max().item<double>(), 0.0) << dtype << " layer " << l;
    }
  }
}

TEST_F(GpuModelTest, CudaGraphDecodeMatchesEagerDecodeAcrossBuckets) {
  auto [cpu, gpu] = load(testing::hfCaseDir("g2_n48_p32"));
  const int64_t S = 9;
  StatePool eager(gpu->config(), S, torch::Device(torch::kCUDA, 0)), graphed(gpu->config(), S, torch::Device(torch::kCUDA, 0));
  CudaGraphDecoder decoder(*gpu, graphed, 8);
  for (int64_t B : {1, 3, 8, 5}) {
    std::vector<int32_t> tokens, slots;
    for (int64_t i = 0; i < B; ++i) {
      tokens.push_back(static_cast<int32_t>((i * 13 + B) % 100));
      slots.push_back(static_cast<int32_t>((i * 2 + B) % S));
    }
    for (int step = 0; step < 3; ++step) {
      torch::Tensor a = gpu->decode(tokens, slots, eager).cpu();
      torch::Tensor b = decoder.decode(tokens, slots).cpu();
      EXPECT_LE(testing::maxRelErr(b, a), 1e-5) << "B=" << B << " step " << step;
    }
  }
  for (int64_t l = 0; l < gpu->config().nLayer; ++l) {
    EXPECT_LE(testing::maxRelErr(graphed.ssm(l).cpu(), eager.ssm(l).cpu()), 1e-5);
  }
}

// Decode at batch <= kFusedDecodeMaxBatch runs the fused layer (in_proj + RMSNorm + conv step,
// SSM step, out_proj + gated norm + residual add; Mamba2Model::fusedDecode): GEMVs at batch <= 2,
// the tensor-core cluster kernels (kernels/decode_gemm: bf16 on sm_90) at 3..64, while fp32
// models keep the unfused path past batch 2. At batches 1, 2, 3, 8 and 64 (slots out of order)
// it must match the CPU model (fp32) and the unfused CUDA path, which decode takes for the same
// rows padded to batch 65 with slot -1 rows. Logits and every pool state after each step; fp32
// and bf16 models (K split over 1, 2, 4 and 8 CTAs across the three checkpoints' in_proj and
// out_proj).
TEST_F(GpuModelTest, FusedSmallBatchDecodeMatchesCpuAndUnfusedPath) {
  const torch::Device dev(torch::kCUDA, 0);
  const int64_t S = 70, kUnfusedBatch = Mamba2Model::kFusedDecodeMaxBatch + 1;
  std::vector<int32_t> slotOrder;  // 64 distinct slots out of order; 6 stay untouched
  for (int32_t i = 0; i < 64; ++i) slotOrder.push_back((i * 37 + 4) % static_cast<int32_t>(S));
  for (const char* name : {"g1_n20_p16", "g2_n48_p32", "g1_n7_p16_bias"}) {
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      const bool f32 = dtype == torch::kFloat32;
      const double tol = f32 ? 1e-4 : 5e-2;
      auto gck = loadCheckpoint(testing::hfCaseDir(name), {dtype, dev});
      auto cck = loadCheckpoint(testing::hfCaseDir(name), {torch::kFloat32, torch::kCPU});
      ASSERT_TRUE(gck.isOk() && cck.isOk());
      Mamba2Model gpu(gck->config, gck->weights), cpu(cck->config, cck->weights);
      StatePool fused(gpu.config(), S, dev), unfused(gpu.config(), S, dev), pc(cpu.config(), S, torch::kCPU);
      // Fresh prompts of different lengths in every pool.
      std::vector<std::vector<int32_t>> prompts;
      std::vector<PrefillSequence> seqs;
      for (size_t i = 0; i < slotOrder.size(); ++i) {
        std::vector<int32_t> t;
        for (size_t j = 0; j < 3 + 4 * (i % 5); ++j) t.push_back(static_cast<int32_t>((i * 17 + j * 5) % 60));
        prompts.push_back(t);
      }
      for (size_t i = 0; i < slotOrder.size(); ++i) seqs.push_back({prompts[i], slotOrder[i], false});
      gpu.prefill(seqs, fused, LogitsMode::kNone);
      gpu.prefill(seqs, unfused, LogitsMode::kNone);
      if (f32) cpu.prefill(seqs, pc, LogitsMode::kNone);
      ASSERT_TRUE(gpu.fusedDecode(2) && !gpu.fusedDecode(kUnfusedBatch)) << name;
#ifdef MAMBA_HAVE_CUDA_KERNELS
      // bf16 on sm_90: the tensor-core kernels take batches 3..64 (else the unfused path does).
      const bool gemm = !f32 && cuda::decodeGemmSupports(8, gpu.config().dModel, 8, dtype);
      for (int64_t B : {3, 8, 64}) EXPECT_EQ(gpu.fusedDecode(B), gemm) << name << " " << dtype << " B=" << B;
      if (!f32 && !gemm) std::cerr << "note: decode gemm unsupported on this device: batches 3..64 run unfused\n";
#endif
      for (int step = 0; step < 3; ++step) {
        for (int64_t B : {2, 1, 3, 8, 64}) {
          const auto what = ::testing::Message() << name << " " << dtype << " B=" << B << " step " << step;
          std::vector<int32_t> tok, sl(slotOrder.begin(), slotOrder.begin() + B);
          for (int64_t i = 0; i < B; ++i) tok.push_back(static_cast<int32_t>((i * 13 + step * 7 + B) % 60));
          std::vector<int32_t> tokPad = tok, slPad = sl;
          tokPad.resize(kUnfusedBatch, 0);
          slPad.resize(kUnfusedBatch, -1);
          torch::Tensor a = gpu.decode(tok, sl, fused).cpu();
          torch::Tensor b = gpu.decode(tokPad, slPad, unfused).narrow(0, 0, B).cpu();
          EXPECT_LE(testing::maxRelErr(a, b), tol) << what << ": fused vs unfused";
          if (f32) {
            EXPECT_LE(testing::maxRelErr(a, cpu.decode(tok, sl, pc)), tol) << what << ": GPU vs CPU";
          }
          for (int64_t l = 0; l < gpu.config().nLayer; ++l) {
            EXPECT_LE(testing::maxRelErr(fused.conv(l).cpu(), unfused.conv(l).cpu()), tol) << what << " conv " << l;
            EXPECT_LE(testing::maxRelErr(fused.ssm(l).cpu(), unfused.ssm(l).cpu()), tol) << what << " ssm " << l;
            if (!f32) continue;
            EXPECT_LE(testing::maxRelErr(fused.conv(l).cpu(), pc.conv(l)), tol) << what << " conv vs CPU " << l;
            EXPECT_LE(testing::maxRelErr(fused.ssm(l).cpu(), pc.ssm(l)), tol) << what << " ssm vs CPU " << l;
          }
        }
      }
      // The untouched slots stayed zero in every pool.
      for (int64_t l = 0; l < gpu.config().nLayer; ++l) {
        for (int64_t s = 0; s < S; ++s) {
          if (std::find(slotOrder.begin(), slotOrder.end(), static_cast<int32_t>(s)) != slotOrder.end()) continue;
          EXPECT_EQ(fused.conv(l)[s].abs().max().item<float>(), 0.f) << name << " slot " << s;
          EXPECT_EQ(fused.ssm(l)[s].abs().max().item<float>(), 0.f) << name << " slot " << s;
        }
      }
    }
  }
}

// Trims layer `layer` of a G = 1 model to its first n states (in_proj B/C rows, conv channels):
// a model with per-layer N, as compaction makes (tests/pruning checks the real surgery).
void trimLayerStates(ModelConfig& c, ModelWeights& w, int64_t layer, int64_t n) {
  const int64_t Di = c.dInner, N = c.stateSize(layer);
  LayerWeights& l = w.layers[static_cast<size_t>(layer)];
  auto keepRows = [&](const torch::Tensor& t, int64_t bStart) {  // rows [0, bStart) x B[:n] C[:n] rest
    if (!t.defined()) return t;
    return torch::cat({t.narrow(0, 0, bStart + n), t.narrow(0, bStart + N, n),
                       t.narrow(0, bStart + 2 * N, t.size(0) - bStart - 2 * N)})
        .contiguous();
  };
  l.inProj = keepRows(l.inProj, 2 * Di);
  l.inProjBias = keepRows(l.inProjBias, 2 * Di);
  l.convWeight = keepRows(l.convWeight, Di);
  l.convBias = keepRows(l.convBias, Di);
  l.stateSize = n;
  c.stateSizes[static_cast<size_t>(layer)] = n;
}

// With MAMBA_DECODE_PERSISTENT=1, batches of 1..8 rows run every layer in one persistent launch
// (kernels/decode_persistent): logits and states as the fused three-kernel layers compute them,
// and as the CPU model at fp32; slot -1 rows touch no state; per-layer N (a trimmed layer);
// replayed from a CUDA graph (cooperative launch captured) as eagerly.
TEST_F(GpuModelTest, PersistentDecodeMatchesFusedLayersAndCpu) {
  const torch::Device dev(torch::kCUDA, 0);
  const int64_t S = 12;
  struct EnvGuard {  // MAMBA_DECODE_PERSISTENT=1 (opt-in) for the guard's scope
    EnvGuard() { setenv("MAMBA_DECODE_PERSISTENT", "1", 1); }
    ~EnvGuard() { unsetenv("MAMBA_DECODE_PERSISTENT"); }
  };
  for (const char* name : {"g1_n20_p16", "g2_n48_p32", "g1_n7_p16_bias", "g1_n20_p16 trimmed"}) {
    const std::string base(name, std::string(name).find(' ') == std::string::npos ? std::string(name).size()
                                                                                   : std::string(name).find(' '));
    for (auto dtype : {torch::kFloat32, torch::kBFloat16}) {
      const bool f32 = dtype == torch::kFloat32;
      const double tol = f32 ? 1e-4 : 5e-2;
      auto gck = loadCheckpoint(testing::hfCaseDir(base), {dtype, dev});
      auto cck = loadCheckpoint(testing::hfCaseDir(base), {torch::kFloat32, torch::kCPU});
      ASSERT_TRUE(gck.isOk() && cck.isOk());
      if (base != name) {
        trimLayerStates(gck->config, gck->weights, 1, 13);
        trimLayerStates(cck->config, cck->weights, 1, 13);
      }
      Mamba2Model gpu(gck->config, gck->weights), cpu(cck->config, cck->weights);
      StatePool pers(gpu.config(), S, dev), pers5(gpu.config(), S, dev), fused(gpu.config(), S, dev),
          graphed(gpu.config(), S, dev), pc(cpu.config(), S, torch::kCPU);
      std::vector<std::vector<int32_t>> prompts(10);
      std::vector<PrefillSequence> seqs;
      for (int32_t i = 0; i < 10; ++i) {
        for (int32_t j = 0; j < 2 + 3 * (i % 4); ++j) prompts[static_cast<size_t>(i)].push_back((i * 17 + j * 5) % 60);
        seqs.push_back({prompts[static_cast<size_t>(i)], (i * 5 + 3) % static_cast<int32_t>(S), false});  // distinct
      }
      for (StatePool* pool : {&pers, &pers5, &fused, &graphed}) gpu.prefill(seqs, *pool, LogitsMode::kNone);
      cpu.prefill(seqs, pc, LogitsMode::kNone);
      ASSERT_FALSE(gpu.persistentDecode(1, pers)) << "opt-in only";
      std::optional<CudaGraphDecoder> decoder;
      {
        EnvGuard on;
        for (int64_t B : {1, 3, 8}) ASSERT_TRUE(gpu.persistentDecode(B, pers)) << name << " " << dtype << " B=" << B;
        decoder.emplace(gpu, graphed, 8);  // captures the persistent launch
      }
      for (int step = 0; step < 3; ++step) {
        for (int64_t B : {1, 3, 8}) {
          const auto what = ::testing::Message() << name << " " << dtype << " B=" << B << " step " << step;
          std::vector<int32_t> tok, sl;
          for (int64_t i = 0; i < B; ++i) {
            tok.push_back(static_cast<int32_t>((i * 13 + step * 7 + B) % 60));
            sl.push_back(B > 1 && i == 1 ? -1 : seqs[static_cast<size_t>(i)].slot);  // row 1: padding
          }
          torch::Tensor a, a5, g;
          {
            EnvGuard on;
            a = gpu.decode(tok, sl, pers).cpu();
            g = decoder->decode(tok, sl).cpu();
            setenv("MAMBA_DECODE_PERSISTENT_GRID", "5", 1);  // several rows and row blocks per CTA
            a5 = gpu.decode(tok, sl, pers5).cpu();
            unsetenv("MAMBA_DECODE_PERSISTENT_GRID");
          }
          torch::Tensor b = gpu.decode(tok, sl, fused).cpu();
          std::vector<int32_t> tokC, slC;  // the CPU model takes no padding rows
          for (int64_t i = 0; i < B; ++i) {
            if (sl[static_cast<size_t>(i)] < 0) continue;
            tokC.push_back(tok[static_cast<size_t>(i)]);
            slC.push_back(sl[static_cast<size_t>(i)]);
          }
          torch::Tensor c = cpu.decode(tokC, slC, pc);
          for (int64_t i = 0, j = 0; i < B; ++i) {
            if (sl[static_cast<size_t>(i)] < 0) continue;
            EXPECT_LE(testing::maxRelErr(a[i], b[i]), tol) << what << " row " << i << ": persistent vs fused layers";
            EXPECT_LE(testing::maxRelErr(g[i], a[i]), 1e-6) << what << " row " << i << ": graph vs eager";
            EXPECT_LE(testing::maxRelErr(a5[i], b[i]), tol) << what << " row " << i << ": 5 CTAs vs fused layers";
            if (f32) {
              EXPECT_LE(testing::maxRelErr(a[i], c[j]), tol) << what << " row " << i << ": GPU vs CPU";
            }
            ++j;
          }
        }
      }
      for (int64_t l = 0; l < gpu.config().nLayer; ++l) {
        EXPECT_LE(testing::maxRelErr(pers.conv(l).cpu(), fused.conv(l).cpu()), tol) << name << " conv " << l;
        EXPECT_LE(testing::maxRelErr(pers.ssm(l).cpu(), fused.ssm(l).cpu()), tol) << name << " ssm " << l;
        EXPECT_LE(testing::maxRelErr(graphed.ssm(l).cpu(), pers.ssm(l).cpu()), 1e-6) << name << " graph ssm " << l;
        EXPECT_LE(testing::maxRelErr(pers5.ssm(l).cpu(), fused.ssm(l).cpu()), tol) << name << " 5 CTAs ssm " << l;
        EXPECT_LE(testing::maxRelErr(pers5.conv(l).cpu(), fused.conv(l).cpu()), tol) << name << " 5 CTAs conv " << l;
        if (f32) {
          EXPECT_LE(testing::maxRelErr(pers.ssm(l).cpu(), pc.ssm(l)), tol) << name << " ssm vs CPU " << l;
        }
      }
    }
  }
}

// The tensor-core decode kernels captured into CUDA graphs (cluster launches with programmatic
// edges): graph replay equals eager decode for a bf16 model at buckets 4, 8 and 16 (batches
// padded with slot -1 rows inside the graph).
TEST_F(GpuModelTest, CudaGraphDecodeWithDecodeGemmMatchesEager) {
  const torch::Device dev(torch::kCUDA, 0);
  auto ck = loadCheckpoint(testing::hfCaseDir("g2_n48_p32"), {torch::kBFloat16, dev});
  ASSERT_TRUE(ck.isOk());
  Mamba2Model gpu(ck->config, ck->weights);
  if (!gpu.fusedDecode(16) || !gpu.fusedDecodeUsesGemm(16)) GTEST_SKIP() << "decode gemm unsupported here";
  const int64_t S = 20;
  StatePool eager(gpu.config(), S, dev), graphed(gpu.config(), S, dev);
  CudaGraphDecoder decoder(gpu, graphed, 16);
  for (int64_t B : {3, 8, 5, 16}) {
    std::vector<int32_t> tokens, slots;
    for (int64_t i = 0; i < B; ++i) {
      tokens.push_back(static_cast<int32_t>((i * 13 + B) % 100));
      slots.push_back(static_cast<int32_t>((i * 3 + B) % S));
    }
    std::sort(slots.begin(), slots.end());
    slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
    tokens.resize(slots.size());
    for (int step = 0; step < 3; ++step) {
      torch::Tensor a = gpu.decode(tokens, slots, eager).cpu();
      torch::Tensor b = decoder.decode(tokens, slots).cpu();
      EXPECT_LE(testing::maxRelErr(b, a), 1e-5) << "B=" << B << " step " << step;
    }
  }
  for (int64_t l = 0; l < gpu.config().nLayer; ++l) {
    EXPECT_LE(testing::maxRelErr(graphed.ssm(l).cpu(), eager.ssm(l).cpu()), 1e-5);
    EXPECT_LE(testing::maxRelErr(graphed.conv(l).cpu(), eager.conv(l).cpu()), 1e-5);
  }
}

// Fused decode batches of >= 32 rows run as row blocks on two streams (the default;
// MAMBA_DECODE_STREAMS=1 keeps one, 4 takes up to four), eagerly and inside the captured graphs;
// logits and states as with one stream (rows of a block may take another decode_gemm tile
// shape: not bit for bit).
TEST_F(GpuModelTest, MultiStreamDecodeMatchesOneStream) {
  const torch::Device dev(torch::kCUDA, 0);
  auto ck = loadCheckpoint(testing::hfCaseDir("g2_n48_p32"), {torch::kBFloat16, dev});
  ASSERT_TRUE(ck.isOk());
  Mamba2Model gpu(ck->config, ck->weights);
  if (!gpu.fusedDecode(64)) GTEST_SKIP() << "fused decode unsupported here";
  const int64_t S = 70;
  struct EnvGuard {  // MAMBA_DECODE_STREAMS=n for the guard's scope
    explicit EnvGuard(const char* n) { setenv("MAMBA_DECODE_STREAMS", n, 1); }
    ~EnvGuard() { unsetenv("MAMBA_DECODE_STREAMS"); }
  };
  StatePool one(gpu.config(), S, dev);
  struct Split {
    const char* streams;
    StatePool eager, graphed;
    std::optional<CudaGraphDecoder> decoder;
  };
  std::vector<std::unique_ptr<Split>> splits;
  for (const char* n : {"2", "4"}) {
    splits.push_back(std::unique_ptr<Split>(
        new Split{n, StatePool(gpu.config(), S, dev), StatePool(gpu.config(), S, dev), std::nullopt}));
  }
  for (int64_t B : {32, 41, 64}) {
    std::vector<int32_t> tokens, slots;
    for (int64_t i = 0; i < B; ++i) {
      tokens.push_back(static_cast<int32_t>((i * 13 + B) % 100));
      slots.push_back(static_cast<int32_t>((i * 11 + B) % S));  // 11 and 70 coprime: distinct
    }
    for (int step = 0; step < 3; ++step) {
      torch::Tensor a;
      {
        EnvGuard env("1");
        a = gpu.decode(tokens, slots, one).cpu();
      }
      for (auto& sp : splits) {
        EnvGuard env(sp->streams);
        torch::Tensor b = gpu.decode(tokens, slots, sp->eager).cpu();
        if (!sp->decoder) sp->decoder.emplace(gpu, sp->graphed, 64);  // captured with the split
        torch::Tensor c = sp->decoder->decode(tokens, slots).cpu();
        const auto what = ::testing::Message() << "streams " << sp->streams << " B=" << B << " step " << step;
        EXPECT_LE(testing::maxRelErr(b, a), 1e-5) << what << ": eager";
        EXPECT_LE(testing::maxRelErr(c, a), 1e-5) << what << ": graph";
      }
    }
  }
  for (auto& sp : splits) {
    for (int64_t l = 0; l < gpu.config().nLayer; ++l) {
      EXPECT_LE(testing::maxRelErr(sp->eager.ssm(l).cpu(), one.ssm(l).cpu()), 1e-5) << sp->streams;
      EXPECT_LE(testing::maxRelErr(sp->graphed.ssm(l).cpu(), one.ssm(l).cpu()), 1e-5) << sp->streams;
      EXPECT_LE(testing::maxRelErr(sp->eager.conv(l).cpu(), one.conv(l).cpu()), 1e-6) << sp->streams;
    }
  }
}

TEST_F(GpuModelTest, CudaGraphPrefillMatchesEagerPrefill) {
  auto [cpu, gpu] = load(testing::hfCaseDir("g2_n48_p32"));
  const torch::Device dev(torch::kCUDA, 0);
  const int64_t S = 6;
  StatePool eager(gpu->config(), S, dev), graphed(gpu->config(), S, dev);
  CudaGraphPrefiller prefiller(*gpu, graphed, 4, 64);
  std::vector<std::vector<int32_t>> toks;
  for (int64_t i = 0; i < 4; ++i) {
    std::vector<int32_t> t;
    for (int64_t j = 0; j < 70; ++j) t.push_back(static_cast<int32_t>((i * 31 + j * 7) % 100));
    toks.push_back(t);
  }
  // Fresh prompts of mixed lengths, then continued chunks (the second call continues slots).
  for (auto [lens, cont] : {std::pair<std::vector<size_t>, bool>{{5, 16, 40}, false}, {{64, 1, 17}, true},
                            {{33}, false}, {{2, 9, 64, 3}, false}}) {
    std::vector<PrefillSequence> seqs;
    for (size_t i = 0; i < lens.size(); ++i) {
      seqs.push_back({std::span<const int32_t>(toks[i]).subspan(0, lens[i]), static_cast<int32_t>(i + 1), cont});
    }
    ASSERT_TRUE(prefiller.covers(seqs, LogitsMode::kLast));
    torch::Tensor a = gpu->prefill(seqs, eager, LogitsMode::kLast).cpu();
    torch::Tensor b = prefiller.prefill(seqs, LogitsMode::kLast).cpu();
    EXPECT_LE(testing::maxRelErr(b, a), 1e-5) << "batch " << lens.size();
    for (int64_t l = 0; l < gpu->config().nLayer; ++l) {
      EXPECT_LE(testing::maxRelErr(graphed.ssm(l).cpu(), eager.ssm(l).cpu()), 1e-5);
      EXPECT_LE(testing::maxRelErr(graphed.conv(l).cpu(), eager.conv(l).cpu()), 1e-6);
    }
  }
  std::vector<PrefillSequence> tooLong = {{toks[0], 1, false}};
  EXPECT_FALSE(prefiller.covers(tooLong, LogitsMode::kLast));  // 70 > 64 tokens
  EXPECT_FALSE(prefiller.covers({{std::span<const int32_t>(toks[0]).subspan(0, 4), 1, false}}, LogitsMode::kAll));
}

// The bf16 SSM-state option: its accuracy cost, measured as teacher-forced decode bits per byte
// of the shipped reference model (byte tokens) on the held-out slice, fp32 vs bf16 state.
TEST_F(GpuModelTest, Bf16StateCostsLittleAccuracyInDecode) {
  const std::string dir = std::string(MAMBA_SOURCE_DIR) + "/models/mamba2-ref";
  auto ckpt = loadCheckpoint(dir, {torch::kFloat32, torch::Device(torch::kCUDA, 0)});
  ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
  Mamba2Model model(ckpt->config, ckpt->weights);
  std::ifstream in(std::string(MAMBA_SOURCE_DIR) + "/tests/data/wikitext2_heldout_4k.txt", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GE(text.size(), 2048u);
  const size_t n = 2048;
  double bits[2] = {0, 0};
  int k = 0;
  for (auto stateDtype : {torch::kFloat32, torch::kBFloat16}) {
    StatePool pool(model.config(), 1, model.device(), stateDtype);
    std::vector<int32_t> first = {static_cast<unsigned char>(text[0])}, slot = {0};
    torch::Tensor logits = model.prefill({{first, 0, false}}, pool, LogitsMode::kLast);
    std::vector<float> nll;
    for (size_t i = 1; i < n; ++i) {
      const int32_t next = static_cast<unsigned char>(text[i]);
      nll.push_back(-torch::log_softmax(logits[0], -1)[next].item<float>());
      std::vector<int32_t> tok = {next};
      logits = model.decode(tok, slot, pool);
    }
    for (float v : nll) bits[k] += v / std::log(2.0);
    bits[k] /= static_cast<double>(nll.size());
    ++k;
  }
  std::cout << "decode bits/byte over " << n << " bytes: fp32 state " << bits[0] << ", bf16 state " << bits[1]
            << " (" << 100.0 * (bits[1] - bits[0]) / bits[0] << "%)\n";
  EXPECT_LT(std::abs(bits[1] - bits[0]) / bits[0], 0.01);
}

// The fused CUDA prefill mixer (kernels conv_prefill + ssd_prefill) against the LibTorch mixer
// on the same GPU (attaching an observer selects the LibTorch path): logits of every real
// position and every pool state, over a ragged batch of fresh prompts and then a continued
// second chunk of each. fp32 and bf16 models, fp32 and bf16 SSM state. The fused path runs
// chunk size 64 here (the cases' 4..64 clamped), so this also checks independence of Q.
TEST_F(GpuModelTest, FusedPrefillMatchesLibTorchMixer) {
  struct NullObserver : MixerObserver {
    void onMixer(const MixerTrace&) override {}
  };
  struct Variant {
    const char* name;
    torch::ScalarType dtype, stateDtype;
    double tol;
  };
  const torch::Device dev(torch::kCUDA, 0);
  for (const Variant& v : {Variant{"g1_n20_p16", torch::kFloat32, torch::kFloat32, 1e-4},
                           Variant{"g2_n48_p32", torch::kFloat32, torch::kFloat32, 1e-4},
                           Variant{"g4_n16_p16_q64", torch::kFloat32, torch::kFloat32, 1e-4},
                           Variant{"g1_n7_p16_bias", torch::kFloat32, torch::kFloat32, 1e-4},
                           Variant{"g2_n48_p32", torch::kFloat32, torch::kBFloat16, 2e-2},
                           Variant{"g2_n48_p32", torch::kBFloat16, torch::kFloat32, 5e-2},
                           Variant{"g1_n20_p16", torch::kFloat16, torch::kFloat32, 1e-2}}) {
    auto ckpt = loadCheckpoint(testing::hfCaseDir(v.name), {v.dtype, dev});
    ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
    Mamba2Model model(ckpt->config, ckpt->weights);
    const auto oracle = testing::loadOracle(v.name);
    const int64_t n = static_cast<int64_t>(oracle.sequences.size());
    StatePool fused(model.config(), n + 1, dev, v.stateDtype), reference(model.config(), n + 1, dev, v.stateDtype);
    NullObserver observer;
    const auto what = ::testing::Message() << v.name << " " << v.dtype << " state " << v.stateDtype;
    for (int part = 0; part < 2; ++part) {
      std::vector<PrefillSequence> seqs;
      for (int64_t i = 0; i < n; ++i) {
        std::span<const int32_t> s(oracle.sequences[static_cast<size_t>(i)]);
        const size_t half = std::max<size_t>(1, s.size() / 2);
        std::span<const int32_t> piece = part == 0 ? s.first(half) : s.subspan(half);
        if (!piece.empty()) seqs.push_back({piece, static_cast<int32_t>(n - i), part == 1});
      }
      if (seqs.empty()) continue;
      torch::Tensor a = model.prefill(seqs, fused, LogitsMode::kAll).cpu();
      torch::Tensor b = model.prefill(seqs, reference, LogitsMode::kAll, &observer).cpu();
      for (size_t j = 0; j < seqs.size(); ++j) {
        const int64_t len = static_cast<int64_t>(seqs[j].tokens.size()), row = static_cast<int64_t>(j);
        EXPECT_LE(testing::maxRelErr(a[row].narrow(0, 0, len), b[row].narrow(0, 0, len)), v.tol)
            << what << " part " << part << " sequence " << j;
      }
      for (int64_t l = 0; l < model.config().nLayer; ++l) {
        EXPECT_LE(testing::maxRelErr(fused.ssm(l).cpu().to(torch::kFloat32), reference.ssm(l).cpu().to(torch::kFloat32)),
                  v.tol)
            << what << " ssm state, layer " << l << " part " << part;
        // The window holds raw in_proj outputs: exact in layer 0, then as close as the layers'
        // inputs (which carry the previous layers' differences).
        EXPECT_LE(testing::maxRelErr(fused.conv(l).cpu(), reference.conv(l).cpu()), l == 0 ? 1e-6 : v.tol)
            << what << " conv window, layer " << l << " part " << part;
      }
    }
  }
}

// The gated norm fused into the sequential-chunk SSD (prefillFusesGatedNorm: bf16, one group,
// enough sequence x head blocks) against the LibTorch mixer (the observer path): logits of
// every position and of the last ones (the row factor gathered with the rows), final SSM
// states; a second call continues the sequences from their states.
TEST_F(GpuModelTest, PrefillWithGatedNormInTheSsdMatchesLibTorchMixer) {
  auto cfg = presetConfig("tiny");  // H = 8 heads of P = 16, N = 16, two layers
  ASSERT_TRUE(cfg.isOk());
  const torch::Device dev(torch::kCUDA, 0);
  Mamba2Model model(*cfg, castWeights(randomWeights(*cfg, 23), torch::kBFloat16, dev));
  const int64_t B = 16, L = 150;  // 16 x 8 = 128 blocks: the sequential kernel's default up to ~196 SMs
  if (!model.prefillFusesGatedNorm(B, L, 0)) GTEST_SKIP() << "the sequential-chunk SSD does not take this call here";
  ASSERT_TRUE(model.prefillFusesGatedNorm(B, L, 1));
  struct NullObserver : MixerObserver {
    void onMixer(const MixerTrace&) override {}
  } observer;
  StatePool fused(*cfg, B, dev), reference(*cfg, B, dev);
  std::vector<std::vector<int32_t>> tokens(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) {
    for (int64_t t = 0; t < L - 7 * i; ++t) tokens[static_cast<size_t>(i)].push_back(static_cast<int32_t>((t * 31 + i * 7) % 500));
  }
  for (int part = 0; part < 2; ++part) {
    std::vector<PrefillSequence> seqs;
    for (int64_t i = 0; i < B; ++i) seqs.push_back({tokens[static_cast<size_t>(i)], static_cast<int32_t>(i), part == 1});
    torch::Tensor a = model.prefill(seqs, fused, LogitsMode::kAll).cpu();
    torch::Tensor b = model.prefill(seqs, reference, LogitsMode::kAll, &observer).cpu();
    for (int64_t i = 0; i < B; ++i) {
      const int64_t len = static_cast<int64_t>(tokens[static_cast<size_t>(i)].size());
      EXPECT_LE(testing::maxRelErr(a[i].narrow(0, 0, len), b[i].narrow(0, 0, len)), 5e-2) << "part " << part << " sequence " << i;
    }
    for (int64_t l = 0; l < cfg->nLayer; ++l) {
      EXPECT_LE(testing::maxRelErr(fused.ssm(l).cpu(), reference.ssm(l).cpu()), 5e-2) << "ssm state, layer " << l;
    }
  }
  // Last-position logits (fresh sequences): the factor rows are gathered with the logits rows.
  std::vector<PrefillSequence> seqs;
  for (int64_t i = 0; i < B; ++i) seqs.push_back({tokens[static_cast<size_t>(i)], static_cast<int32_t>(i), false});
  torch::Tensor last = model.prefill(seqs, fused, LogitsMode::kLast).cpu();
  torch::Tensor all = model.prefill(seqs, reference, LogitsMode::kAll, &observer).cpu();
  for (int64_t i = 0; i < B; ++i) {
    const int64_t len = static_cast<int64_t>(tokens[static_cast<size_t>(i)].size());
    EXPECT_LE(testing::maxRelErr(last[i], all[i][len - 1]), 5e-2) << "last position of sequence " << i;
  }
}

}  // namespace
}  // namespace mamba
