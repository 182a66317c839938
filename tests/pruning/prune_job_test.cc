// runPruneJob (what mamba-tool prune and Admin.PruneModel run): from a checkpoint directory and
// a text corpus to a pruned checkpoint directory that loads with the kept state sizes, its
// scores reused for a second (masked) run, cancellation, and option errors that name the option
// and write nothing.
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

TEST(PruneJob, CancelledDuringCalibrationStopsAtTheNextBatchAndWritesNothing) {
  TempDir tmp;
  Source src(tmp);
  const std::string out = (tmp.path() / "cancelled").string();
  PruneJobOptions o = calibrating(src, out);
  o.calibration.context = 16;  // many small batches
  o.calibration.batch = 1;
  int64_t done = 0, total = 0;
  int polls = 0;
  o.progress = [&](int64_t d, int64_t t) { done = d, total = t; };
  o.cancelled = [&] {
    ++polls;
    return done >= 48;  // after the third batch
  };
  auto r = runPruneJob(o);
  ASSERT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().toString();
  EXPECT_NE(r.status().message().find("after 48 of " + std::to_string(total) + " tokens"), std::string::npos)
      << r.status().toString();
  EXPECT_EQ(done, 48);
  EXPECT_GT(total, 1000);
  EXPECT_EQ(polls, 5);  // before loading the source, then before each of 4 batches
  EXPECT_FALSE(fs::exists(out));

  // Cancelled once the scores are in (here: loaded from a file): still nothing written.
  auto scored = runPruneJob(calibrating(src, (tmp.path() / "scored").string()));
  ASSERT_TRUE(scored.isOk()) << scored.status().toString();
  PruneJobOptions late;
  late.modelDir = src.dir;
  late.scoresPath = scored->scoresPath;
  late.outputDir = out;
  int calls = 0;
  late.cancelled = [&] { return ++calls > 1; };  // let the first poll (before loading) pass
  auto l = runPruneJob(late);
  ASSERT_EQ(l.status().code(), StatusCode::kCancelled) << l.status().toString();
  EXPECT_NE(l.status().message().find("before the surgery"), std::string::npos) << l.status().toString();
  EXPECT_FALSE(fs::exists(out));
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
