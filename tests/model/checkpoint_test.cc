// Checkpoint loading: round trips and a table of broken checkpoints, each failing with an
// error that names the file / tensor and the expected vs actual shape.
#include "server/model/checkpoint.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "server/model/mamba2_model.h"
#include "server/model/random_init.h"
#include "server/model/safetensors.h"
#include "tests/common/test_support.h"
#include "tests/model/model_test_util.h"

namespace mamba {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ckpt_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    testing::removeTree(dir_);
    auto cfg = presetConfig("tiny");
    ASSERT_TRUE(cfg.isOk());
    config_ = *cfg;
    weights_ = randomWeights(config_, 5);
    ASSERT_TRUE(saveHfCheckpoint(config_, weights_, dir_.string()).isOk());
  }
  void TearDown() override { testing::removeTree(dir_); }
  std::string readConfig() {
    std::ifstream in(dir_ / "config.json");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  void writeConfig(const std::string& s) { std::ofstream(dir_ / "config.json") << s; }
  // Rewrites model.safetensors with `edit` applied to the tensor list.
  void rewriteWeights(const std::function<void(std::vector<std::pair<std::string, torch::Tensor>>&)>& edit) {
    auto f = SafetensorsFile::open((dir_ / "model.safetensors").string());
    ASSERT_TRUE(f.isOk());
    std::vector<std::pair<std::string, torch::Tensor>> ts;
    for (const auto& info : (*f)->tensors()) {
      auto bytes = (*f)->bytes(info);
      ts.push_back({info.name, torch::from_blob(const_cast<std::byte*>(bytes.data()), info.shape).clone()});
    }
    f = StatusOr<std::unique_ptr<SafetensorsFile>>(notFound("closed"));
    edit(ts);
    std::vector<TensorView> views;
    for (auto& [n, t] : ts) {
      views.push_back({n, t.scalar_type() == torch::kInt ? DType::kI32 : DType::kF32, t.sizes().vec(), t.data_ptr()});
    }
    ASSERT_TRUE(writeSafetensors((dir_ / "model.safetensors").string(), views).isOk());
  }
  Status load() { return loadCheckpoint(dir_.string(), {torch::kFloat32, torch::kCPU}).status(); }

  fs::path dir_;
  ModelConfig config_;
  ModelWeights weights_;
};

TEST_F(CheckpointTest, RoundTripKeepsEveryTensorAndLogits) {
  auto ckpt = loadCheckpoint(dir_.string(), {torch::kFloat32, torch::kCPU});
  ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
  EXPECT_TRUE(torch::equal(ckpt->weights.embedding, weights_.embedding));
  EXPECT_TRUE(torch::equal(ckpt->weights.layers[1].inProj, weights_.layers[1].inProj));
  EXPECT_TRUE(torch::equal(ckpt->weights.layers[0].aLog, weights_.layers[0].aLog));
  EXPECT_EQ(ckpt->weights.lmHead.data_ptr(), ckpt->weights.embedding.data_ptr());  // tied
  Mamba2Model a(config_, weights_), b(ckpt->config, ckpt->weights);
  StatePool pa(config_, 1, torch::kCPU), pb(config_, 1, torch::kCPU);
  std::vector<int32_t> ids = {5, 9, 1, 300, 7};
  EXPECT_TRUE(torch::equal(a.prefill({{ids, 0, false}}, pa, LogitsMode::kAll),
                           b.prefill({{ids, 0, false}}, pb, LogitsMode::kAll)));
}

TEST_F(CheckpointTest, BrokenCheckpointsNameTheProblem) {
  struct Case {
    std::string what;
    std::function<void()> breakIt;
    std::vector<std::string> needles;
  };
  const std::string st = (dir_ / "model.safetensors").string();
  std::vector<Case> cases = {
      {"missing weights", [&] { fs::remove(st); }, {"no weights"}},
      {"missing config", [&] { fs::remove(dir_ / "config.json"); }, {"config.json"}},
      {"truncated safetensors", [&] { fs::resize_file(st, fs::file_size(st) - 100); }, {"model.safetensors"}},
      {"header lies about offsets", [&] {
         std::fstream f(st, std::ios::in | std::ios::out | std::ios::binary);
         std::string s((std::istreambuf_iterator<char>(f)), {});
         size_t p = s.find("\"data_offsets\":[");
         s[p + 16] = '9';  // the first tensor's begin offset now exceeds its end
         f.seekp(0);
         f.write(s.data(), static_cast<std::streamsize>(s.size()));
       }, {"model.safetensors"}},
      {"config contradicts weights (state_size)", [&] {
         std::string c = readConfig();
         c.replace(c.find("\"state_size\": 16"), 16, "\"state_size\": 12");
         writeConfig(c);
       }, {"backbone.layers.0.mixer.in_proj.weight", "[296, 64]", "[288, 64]"}},
      {"missing tensor", [&] {
         rewriteWeights([](auto& ts) { std::erase_if(ts, [](auto& t) { return t.first == "backbone.layers.1.mixer.D"; }); });
       }, {"backbone.layers.1.mixer.D", "[8]"}},
      {"unexpected tensor", [&] {
         rewriteWeights([](auto& ts) { ts.push_back({"backbone.layers.7.mixer.D", torch::zeros({8})}); });
       }, {"unexpected tensor", "backbone.layers.7.mixer.D"}},
      {"non-float dtype", [&] {
         rewriteWeights([](auto& ts) {
           for (auto& t : ts) if (t.first == "backbone.norm_f.weight") t.second = torch::zeros({64}, torch::kInt);
         });
       }, {"backbone.norm_f.weight", "I32"}},
      {"wrong shape", [&] {
         rewriteWeights([](auto& ts) {
           for (auto& t : ts) if (t.first == "backbone.layers.0.mixer.conv1d.weight") t.second = torch::zeros({160, 1, 3});
         });
       }, {"conv1d.weight", "[160, 1, 3]", "[160, 1, 4]"}},
      {"bad config value", [&] {
         std::string c = readConfig();
         c.replace(c.find("\"n_groups\": 1"), 13, "\"n_groups\": 3");
         writeConfig(c);
       }, {"n_groups"}},
  };
  for (const auto& c : cases) {
    SetUp();
    c.breakIt();
    Status s = load();
    ASSERT_FALSE(s.isOk()) << c.what;
    for (const auto& n : c.needles) {
      EXPECT_NE(s.message().find(n), std::string::npos) << c.what << ": " << s.toString();
    }
  }
}

TEST_F(CheckpointTest, NonUniformStateSizesRoundTrip) {
  config_.stateSizes = {16, 5};
  ModelWeights w = randomWeights(config_, 9);
  testing::removeTree(dir_);
  ASSERT_TRUE(saveHfCheckpoint(config_, w, dir_.string()).isOk());
  auto ckpt = loadCheckpoint(dir_.string(), {torch::kFloat32, torch::kCPU});
  ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
  EXPECT_EQ(ckpt->config.stateSizes, (std::vector<int64_t>{16, 5}));
  EXPECT_EQ(ckpt->weights.layers[1].inProj.size(0), 2 * 128 + 2 * 5 + 8);
}

}  // namespace
}  // namespace mamba
