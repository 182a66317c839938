// SafetensorsCheckpoint: sharded and single-file checkpoint directories, good and broken.
#include "server/model/safetensors_index.h"

#include <gtest/gtest.h>

#include "tests/model/safetensors_test_util.h"

namespace mamba {
namespace {

using namespace sttest;  // NOLINT
namespace fs = std::filesystem;


constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";

std::vector<OwnedTensor> shard1Tensors() {
  return {makeTensor("backbone.embeddings.weight", DType::kBF16, {8, 4}, 1),
          makeTensor("backbone.layers.0.mixer.A_log", DType::kF32, {4}, 2)};
}
std::vector<OwnedTensor> shard2Tensors() {
  return {makeTensor("backbone.norm_f.weight", DType::kF32, {4}, 3),
          makeTensor("lm_head.scalar", DType::kF64, {}, 4)};
}

std::string indexJson(const std::map<std::string, std::string>& weightMap) {
  nlohmann::json j;
  j["metadata"] = {{"total_size", 123}};
  j["weight_map"] = weightMap;
  return j.dump(2);
}

// Writes a valid two-shard checkpoint into `dir`.
void writeShardedCheckpoint(const std::string& dir) {
  std::map<std::string, std::string> weightMap;
  for (const auto& [shard, tensors] :
       {std::pair(kShard1, shard1Tensors()), std::pair(kShard2, shard2Tensors())}) {
    ASSERT_TRUE(writeSafetensors(dir + "/" + shard, views(tensors), {{"format", "pt"}}).isOk());
    for (const OwnedTensor& t : tensors) weightMap[t.name] = shard;
  }
  writeFile(dir + "/" + kSafetensorsIndexFile, indexJson(weightMap));
}

TEST(SafetensorsCheckpoint, OpensShardedDirectory) {
  TempDir dir;
  writeShardedCheckpoint(dir.path());
  auto ckpt = SafetensorsCheckpoint::openDir(dir.path());
  ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
  EXPECT_EQ((*ckpt)->dir(), dir.path());
  ASSERT_EQ((*ckpt)->files().size(), 2u);
  EXPECT_EQ((*ckpt)->files()[0]->path(), dir.file(kShard1));
  EXPECT_EQ((*ckpt)->files()[1]->path(), dir.file(kShard2));
  std::vector<std::string> expectedNames;
  for (const auto& [shard, tensors] :
       {std::pair(kShard1, shard1Tensors()), std::pair(kShard2, shard2Tensors())}) {
    for (const OwnedTensor& t : tensors) {
      expectedNames.push_back(t.name);
      auto entry = (*ckpt)->find(t.name);
      ASSERT_TRUE(entry.has_value()) << t.name;
      EXPECT_EQ(entry->file->path(), dir.file(shard));
      EXPECT_EQ(entry->info->name, t.name);
      EXPECT_EQ(entry->info->shape, t.shape);
      EXPECT_EQ(toString(entry->file->bytes(*entry->info)), t.data);
    }
  }
  std::sort(expectedNames.begin(), expectedNames.end());
  EXPECT_EQ((*ckpt)->names(), expectedNames);
  EXPECT_FALSE((*ckpt)->find("missing").has_value());
}

TEST(SafetensorsCheckpoint, OpensSingleFileDirectoryWhichWinsOverAnIndex) {
  TempDir dir;
  const std::vector<OwnedTensor> tensors = everyDtypeTensors();
  ASSERT_TRUE(writeSafetensors(dir.file(kSafetensorsSingleFile), views(tensors)).isOk());
  // A broken index next to model.safetensors is ignored, as transformers does.
  writeFile(dir.file(kSafetensorsIndexFile), "{broken");
  auto ckpt = SafetensorsCheckpoint::openDir(dir.path());
  ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
  ASSERT_EQ((*ckpt)->files().size(), 1u);
  expectHolds(*(*ckpt)->files()[0], tensors);
  EXPECT_EQ((*ckpt)->names().size(), tensors.size());
  for (const OwnedTensor& t : tensors) {
    auto entry = (*ckpt)->find(t.name);
    ASSERT_TRUE(entry.has_value()) << t.name;
    EXPECT_EQ(toString(entry->file->bytes(*entry->info)), t.data);
  }
}

TEST(SafetensorsCheckpoint, MissingOrEmptyDirectory) {
  TempDir dir;
  const std::string missing = dir.file("nope");
  expectError(SafetensorsCheckpoint::openDir(missing).status(), StatusCode::kNotFound,
              {missing});
  expectError(SafetensorsCheckpoint::openDir(dir.path()).status(), StatusCode::kNotFound,
              {dir.path(), kSafetensorsSingleFile, kSafetensorsIndexFile});
  writeFile(dir.file("plain"), "x");
  expectError(SafetensorsCheckpoint::openDir(dir.file("plain")).status(),
              StatusCode::kInvalidArgument, {"plain", "not a directory"});
}

struct BrokenCheckpointCase {
  std::string name;
  std::function<void(const std::string& dir)> mutate;
  StatusCode code;
  std::vector<std::string> needles;  // besides the index path, which every message must name
};

void PrintTo(const BrokenCheckpointCase& c, std::ostream* os) { *os << c.name; }

class SafetensorsBrokenCheckpointTest : public ::testing::TestWithParam<BrokenCheckpointCase> {};

TEST_P(SafetensorsBrokenCheckpointTest, IsRejected) {
  const BrokenCheckpointCase& c = GetParam();
  TempDir dir;
  writeShardedCheckpoint(dir.path());
  ASSERT_TRUE(SafetensorsCheckpoint::openDir(dir.path()).isOk());
  c.mutate(dir.path());
  auto ckpt = SafetensorsCheckpoint::openDir(dir.path());
  ASSERT_FALSE(ckpt.isOk()) << "accepted a broken checkpoint";
  std::vector<std::string> needles = c.needles;
  needles.push_back(dir.file(kSafetensorsIndexFile));
  expectError(ckpt.status(), c.code, needles);
}

std::function<void(const std::string&)> withIndex(std::string text) {
  return [text](const std::string& dir) { writeFile(dir + "/" + kSafetensorsIndexFile, text); };
}

const BrokenCheckpointCase kBrokenCheckpointCases[] = {
    {"MissingShard",
     [](const std::string& dir) { fs::remove(dir + "/" + kShard2); }, StatusCode::kNotFound,
     {kShard2, "'backbone.norm_f.weight' and 1 more"}},
    {"TensorAbsentFromShard",
     withIndex(indexJson({{"backbone.embeddings.weight", kShard1}, {"ghost", kShard1}})),
     StatusCode::kDataLoss, {"'ghost'", kShard1, "no such tensor"}},
    {"MalformedJson", withIndex(R"({"weight_map": {"a": )"), StatusCode::kDataLoss,
     {"not valid JSON"}},
    {"IndexNotObject", withIndex("[]"), StatusCode::kDataLoss, {"must be a JSON object"}},
    {"NoWeightMap", withIndex(R"({"metadata": {}})"), StatusCode::kDataLoss,
     {"no 'weight_map'"}},
    {"WeightMapNotObject", withIndex(R"({"weight_map": ["a"]})"), StatusCode::kDataLoss,
     {"'weight_map' must be an object", "array"}},
    {"ShardNotString", withIndex(R"({"weight_map": {"backbone.norm_f.weight": 2}})"),
     StatusCode::kDataLoss, {"'backbone.norm_f.weight'", "string"}},
    {"ShardEscapesDirectory",
     withIndex(R"({"weight_map": {"a": "../model-00001-of-00002.safetensors"}})"),
     StatusCode::kDataLoss, {"'a'", "leaves the checkpoint directory"}},
    {"ShardAbsolute", withIndex(R"({"weight_map": {"a": "/etc/passwd"}})"),
     StatusCode::kDataLoss, {"'a'", "/etc/passwd"}},
    {"CorruptShard",
     [](const std::string& dir) {
       std::string path = dir + "/" + kShard1;
       std::string bytes = readFile(path);
       bytes.resize(bytes.size() - 1);
       writeFile(path, bytes);
     },
     // The writer put A_log (F32) first, so the cut hits the BF16 embeddings.
     StatusCode::kDataLoss,
     {kShard1, "tensor 'backbone.embeddings.weight': data_offsets [16, 80]: end 80 is beyond "
               "the data section of 79 bytes"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, SafetensorsBrokenCheckpointTest,
                         ::testing::ValuesIn(kBrokenCheckpointCases),
                         [](const ::testing::TestParamInfo<BrokenCheckpointCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------
// The Python `safetensors` library as oracle (tests/oracle/safetensors_cases.py).
}  // namespace
}  // namespace mamba
