// runPruneJob (what mamba-tool prune and Admin.PruneModel run): from a checkpoint directory and
// a text corpus to a pruned checkpoint directory that loads with the kept state sizes, its
// scores reused for a second (masked) run, and option errors that name the option and write
// nothing.
#include "pruning/prune_job.h"

#include <fstream>
#include <functional>

#include "pruning/state_scores.h"
#include "server/model/checkpoint.h"
#include "tests/pruning/pruning_test_util.h"

namespace mamba::pruning {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A small model written as a checkpoint with a byte-level tokenizer, and a text to calibrate on.
struct Source {
  explicit Source(const TempDir& tmp) : dir((tmp.path() / "src").string()), text((tmp.path() / "corpus.txt").string()) {
    testing::SmallModel m = testing::smallModel(1, 16, false, 2);
    EXPECT_TRUE(saveHfCheckpoint(m.config, m.weights, dir).isOk());
    std::ofstream(fs::path(dir) / "tokenizer.json") << mamba::testing::byteLevelTokenizerJson();
    std::ofstream out(text);
    for (int i = 0; i < 40; ++i) out << "The quick brown fox " << i << " jumps over the lazy dog.\n";
  }
  std::string dir, text;
};

PruneJobOptions calibrating(const Source& src, const std::string& out) {
  PruneJobOptions o;
  o.modelDir = src.dir;
  o.calibration.textPath = src.text;
  o.calibration.context = 64;
  o.calibration.batch = 2;
  o.ratio = 0.5;
  o.outputDir = out;
  return o;
}

TEST(PruneJob, CalibratesPrunesAndWritesALoadableCheckpoint) {
  TempDir tmp;
  Source src(tmp);
  const std::string out = (tmp.path() / "compacted").string();
  auto r = runPruneJob(calibrating(src, out));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->stateSizesBefore, (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(r->stateSizes, (std::vector<int64_t>{8, 8}));
  EXPECT_TRUE(r->hfCompatible);
  EXPECT_GT(r->calibrationTokens, 1000);
  EXPECT_EQ(r->corpusHash.size(), 16u);
  EXPECT_LT(r->stateBytesPerSequence, r->stateBytesPerSequenceBefore);
  EXPECT_EQ(r->scoresPath, out + "/scores.json");
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "scores.json", "pruning.json"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
  auto loaded = loadCheckpoint(out, {});
  ASSERT_TRUE(loaded.isOk()) << loaded.status().toString();
  EXPECT_EQ(loaded->config.stateSizes, r->stateSizes);
  EXPECT_EQ(loaded->config.parameterCount(), r->parameters);
  auto manifest = nlohmann::json::parse(mamba::testing::readFile(fs::path(out) / "pruning.json"));
  EXPECT_EQ(manifest["method"], "delta_b");
  EXPECT_EQ(manifest["variant"], "compacted");
  EXPECT_EQ(manifest["corpus_fnv1a64"], r->corpusHash);
  EXPECT_EQ(manifest["kept"].size(), 2u);

  // The written scores drive a second run: masked keeps the shapes.
  PruneJobOptions again;
  again.modelDir = src.dir;
  again.scoresPath = r->scoresPath;
  again.variant = "masked";
  again.method = "weight";
  again.mode = "global";
  again.ratio = 0.25;
  again.outputDir = (tmp.path() / "masked").string();
  auto m = runPruneJob(again);
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  EXPECT_EQ(m->stateSizes, (std::vector<int64_t>{16, 16}));
  EXPECT_EQ(m->calibrationSeconds, 0.0);
  EXPECT_EQ(m->corpusHash, r->corpusHash);
  EXPECT_FALSE(fs::exists(fs::path(again.outputDir) / "scores.json"));

  // Not into a non-empty directory, unless asked to overwrite.
  auto refused = runPruneJob(again);
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists) << refused.status().toString();
  again.overwrite = true;
  EXPECT_TRUE(runPruneJob(again).isOk());
}

TEST(PruneJob, BadOptionsNameTheOptionAndWriteNothing) {
  TempDir tmp;
  Source src(tmp);
  const std::string out = (tmp.path() / "out").string();
  struct Case {
    const char* mentions;
    StatusCode code;
    std::function<void(PruneJobOptions&)> edit;
  };
  const std::vector<Case> cases = {
      {"ratio", StatusCode::kInvalidArgument, [](auto& o) { o.ratio = 1.0; }},
      {"mode", StatusCode::kInvalidArgument, [](auto& o) { o.mode = "diagonal"; }},
      {"variant", StatusCode::kInvalidArgument, [](auto& o) { o.variant = "dense"; }},
      {"method", StatusCode::kInvalidArgument, [](auto& o) { o.method = "gradient"; }},
      {"dtype", StatusCode::kInvalidArgument, [](auto& o) { o.dtype = "int8"; }},
      {"output_dir", StatusCode::kInvalidArgument, [](auto& o) { o.outputDir.clear(); }},
      {"model", StatusCode::kNotFound, [](auto& o) { o.modelDir = "/nonexistent/model"; }},
      {"scores_path", StatusCode::kNotFound, [](auto& o) { o.scoresPath = "/nonexistent/scores.json"; }},
      {"calibration.text_path", StatusCode::kNotFound, [](auto& o) { o.calibration.textPath = "/nonexistent.txt"; }},
      {"calibration.context", StatusCode::kInvalidArgument, [](auto& o) { o.calibration.context = 0; }},
      {"calibration.batch", StatusCode::kInvalidArgument, [](auto& o) { o.calibration.batch = -1; }},
      {"device", StatusCode::kInvalidArgument, [](auto& o) { o.device = "tpu"; }},
  };
  for (const Case& c : cases) {
    PruneJobOptions o = calibrating(src, out);
    c.edit(o);
    auto r = runPruneJob(o);
    ASSERT_FALSE(r.isOk()) << c.mentions;
    EXPECT_EQ(r.status().code(), c.code) << r.status().toString();
    EXPECT_NE(r.status().message().find(c.mentions), std::string::npos) << r.status().toString();
    EXPECT_FALSE(fs::exists(out)) << c.mentions << " wrote its output";
  }
}

}  // namespace
}  // namespace mamba::pruning
