// GPU path (label `gpu`, run on the GPU machine): the CUDA model computes the same function as
// the CPU model. Skips when no CUDA device is present.
#include <gtest/gtest.h>

#include "server/model/checkpoint.h"
#include "server/model/cuda_graph_decoder.h"
#include "server/model/mamba2_model.h"
#include "server/model/random_init.h"
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
  ModelWeights wg = w;
  wg.device = torch::Device(torch::kCUDA, 0);
  auto move = [&](torch::Tensor& t) { if (t.defined()) t = t.to(wg.device); };
  move(wg.embedding); move(wg.normF); wg.lmHead = wg.embedding;
  for (auto& l : wg.layers) {
    for (torch::Tensor* t : {&l.norm, &l.inProj, &l.inProjBias, &l.convWeight, &l.convBias, &l.dtBias, &l.aLog,
                             &l.A, &l.D, &l.gatedNorm, &l.outProj, &l.outProjBias}) move(*t);
  }
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

}  // namespace
}  // namespace mamba
