#include "server/model/safetensors.h"

#include <gtest/gtest.h>

#include "tests/model/safetensors_test_util.h"

namespace mamba {
namespace {

using namespace sttest;  // NOLINT
namespace fs = std::filesystem;

TEST(SafetensorsDType, NamesSizesAndParsing) {
  const std::map<DType, std::pair<std::string, size_t>> expected = {
      {DType::kF64, {"F64", 8}},      {DType::kF32, {"F32", 4}},
      {DType::kF16, {"F16", 2}},      {DType::kBF16, {"BF16", 2}},
      {DType::kI64, {"I64", 8}},      {DType::kI32, {"I32", 4}},
      {DType::kI16, {"I16", 2}},      {DType::kI8, {"I8", 1}},
      {DType::kU8, {"U8", 1}},        {DType::kBool, {"BOOL", 1}},
      {DType::kF8E4M3, {"F8_E4M3", 1}}, {DType::kF8E5M2, {"F8_E5M2", 1}},
  };
  ASSERT_EQ(expected.size(), std::size(kAllDTypes));
  for (const auto& [dt, nameSize] : expected) {
    EXPECT_EQ(dtypeName(dt), nameSize.first);
    EXPECT_EQ(dtypeSize(dt), nameSize.second);
    EXPECT_EQ(parseDType(nameSize.first), dt);
  }
  EXPECT_EQ(parseDType("f32"), std::nullopt);
  EXPECT_EQ(parseDType("U16"), std::nullopt);
  EXPECT_EQ(parseDType(""), std::nullopt);
  EXPECT_EQ((TensorInfo{"s", DType::kF32, {}, 0, 4}.numel()), 1);
  EXPECT_EQ((TensorInfo{"z", DType::kF32, {3, 0}, 0, 0}.numel()), 0);
}

// ---------------------------------------------------------------------------------------
// Round trips through the C++ writer and reader

TEST(SafetensorsRoundTrip, EveryDtypeScalarAndEmpty) {
  TempDir dir;
  const std::vector<OwnedTensor> tensors = everyDtypeTensors();
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"model", "mamba2"}, {"note", "caf\xc3\xa9 \"quoted\"\n\\"}};
  const std::string path = dir.file("all.safetensors");
  ASSERT_TRUE(writeSafetensors(path, views(tensors), metadata).isOk());

  auto file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.isOk()) << file.status().toString();
  EXPECT_EQ((*file)->path(), path);
  expectHolds(**file, tensors);
  EXPECT_EQ((*file)->metadata(), metadata);
  EXPECT_EQ((*file)->find("nope"), nullptr);

  // Header order is the reference writer's: dtype alignment descending, then name.
  std::vector<const OwnedTensor*> sorted;
  for (const OwnedTensor& t : tensors) sorted.push_back(&t);
  auto rank = [](DType dt) {
    return std::find(kWriterOrder.begin(), kWriterOrder.end(), dt) - kWriterOrder.begin();
  };
  std::sort(sorted.begin(), sorted.end(), [&](const OwnedTensor* a, const OwnedTensor* b) {
    return std::pair(rank(a->dtype), a->name) < std::pair(rank(b->dtype), b->name);
  });
  ASSERT_EQ((*file)->tensors().size(), sorted.size());
  uint64_t offset = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const TensorInfo& info = (*file)->tensors()[i];
    EXPECT_EQ(info.name, sorted[i]->name) << i;
    EXPECT_EQ(info.begin, offset) << info.name;
    offset = info.end;
    // Every tensor is naturally aligned in memory (mapping is page aligned, header padded).
    auto addr = reinterpret_cast<uintptr_t>((*file)->bytes(info).data());
    EXPECT_EQ(addr % dtypeSize(info.dtype), 0u) << info.name;
  }
  EXPECT_EQ((*file)->dataSize(), offset);
}

TEST(SafetensorsRoundTrip, NoTensorsAndZeroSizeDataSection) {
  TempDir dir;
  // No tensors at all: the file is the prefix plus "{}" padded to 8 bytes.
  const std::string empty = dir.file("empty.safetensors");
  ASSERT_TRUE(writeSafetensors(empty, {}).isOk());
  EXPECT_EQ(readFile(empty), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  auto file = SafetensorsFile::open(empty);
  ASSERT_TRUE(file.isOk()) << file.status().toString();
  EXPECT_TRUE((*file)->tensors().empty());
  EXPECT_TRUE((*file)->metadata().empty());
  EXPECT_EQ((*file)->dataSize(), 0u);

  // Only zero-size tensors: a zero-size data section at the very end of the mapping.
  const std::vector<OwnedTensor> zeros = {makeTensor("a", DType::kF32, {0}, 0),
                                          makeTensor("b", DType::kBF16, {2, 0, 3}, 0)};
  const std::string path = dir.file("zeros.safetensors");
  ASSERT_TRUE(writeSafetensors(path, views(zeros), {{"k", "v"}}).isOk());
  file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.isOk()) << file.status().toString();
  expectHolds(**file, zeros);
  EXPECT_EQ((*file)->dataSize(), 0u);
  EXPECT_EQ((*file)->metadata().at("k"), "v");
}

// The exact bytes of the Rust crate's own serialization test (tensor.rs,
// test_serialization): the writer is byte-compatible with the reference.
TEST(SafetensorsRoundTrip, MatchesReferenceSerializationBytes) {
  TempDir dir;
  std::string data;
  for (float f : {0.f, 1.f, 2.f, 3.f, 4.f, 5.f}) {
    data.append(reinterpret_cast<const char*>(&f), sizeof f);
  }
  const OwnedTensor t{"attn.0", DType::kF32, {1, 2, 3}, data};
  const std::string path = dir.file("ref.safetensors");
  ASSERT_TRUE(writeSafetensors(path, views({t})).isOk());
  const std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  ASSERT_EQ(header.size(), 64u);
  EXPECT_EQ(readFile(path), std::string("\x40\0\0\0\0\0\0\0", 8) + header + data);
}

TEST(SafetensorsRoundTrip, OverwritesAtomicallyWithoutLeftovers) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  const std::vector<OwnedTensor> first = {makeTensor("x", DType::kF32, {4}, 1)};
  const std::vector<OwnedTensor> second = {makeTensor("y", DType::kI8, {3}, 2)};
  ASSERT_TRUE(writeSafetensors(path, views(first)).isOk());
  // A reader holding the old file keeps seeing the old bytes after the rename.
  auto old = SafetensorsFile::open(path);
  ASSERT_TRUE(old.isOk());
  ASSERT_TRUE(writeSafetensors(path, views(second)).isOk());
  expectHolds(**old, first);
  auto fresh = SafetensorsFile::open(path);
  ASSERT_TRUE(fresh.isOk());
  expectHolds(**fresh, second);
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    ++entries;
    EXPECT_EQ(e.path().filename(), "w.safetensors");
  }
  EXPECT_EQ(entries, 1u);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::owner_read, fs::perms::owner_read);
}

TEST(SafetensorsRoundTrip, ConcurrentReadsFromOneFile) {
  TempDir dir;
  const std::vector<OwnedTensor> tensors = everyDtypeTensors();
  const std::string path = dir.file("c.safetensors");
  ASSERT_TRUE(writeSafetensors(path, views(tensors)).isOk());
  auto file = SafetensorsFile::open(path);
  ASSERT_TRUE(file.isOk());
  const SafetensorsFile& f = **file;
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int rep = 0; rep < 200; ++rep) {
        for (const OwnedTensor& t : tensors) {
          const TensorInfo* info = f.find(t.name);
          if (info == nullptr || toString(f.bytes(*info)) != t.data) ++mismatches[w];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches, std::vector<int>(4, 0));
}

TEST(SafetensorsWriter, RejectsBadArguments) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  const OwnedTensor good = makeTensor("good", DType::kF32, {2}, 0);
  struct Case {
    const char* what;
    std::vector<TensorView> tensors;
    std::map<std::string, std::string> metadata;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"duplicate", {good.view(), good.view()}, {}, {"'good'", "more than once"}},
      {"reserved", {{"__metadata__", DType::kF32, {2}, good.data.data()}}, {}, {"reserved"}},
      {"negative dim", {{"neg", DType::kF32, {2, -3}, good.data.data()}}, {}, {"'neg'", "-3"}},
      {"overflow",
       {{"big", DType::kF64, {int64_t{1} << 40, int64_t{1} << 40}, good.data.data()}},
       {},
       {"'big'", "overflows"}},
      {"null data", {{"null", DType::kF32, {2}, nullptr}}, {}, {"'null'", "8 bytes"}},
      {"bad utf8 name", {{"bad\xff", DType::kF32, {2}, good.data.data()}}, {}, {"UTF-8"}},
      {"bad utf8 metadata", {good.view()}, {{"k", "\xc3"}}, {"'k'", "UTF-8"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    expectError(writeSafetensors(path, c.tensors, c.metadata), StatusCode::kInvalidArgument,
                c.needles);
    EXPECT_TRUE(fs::is_empty(dir.path())) << "nothing may be left behind";
  }
  // Zero-size tensors may have null data.
  EXPECT_TRUE(writeSafetensors(path, std::vector<TensorView>{{"z", DType::kF32, {0}, nullptr}})
                  .isOk());
  // A missing directory is NOT_FOUND.
  expectError(writeSafetensors(dir.file("no/such/dir/x.safetensors"), views({good})),
              StatusCode::kNotFound, {"no/such/dir/x.safetensors"});
}

TEST(SafetensorsOpen, MissingFileAndDirectory) {
  TempDir dir;
  const std::string missing = dir.file("missing.safetensors");
  expectError(SafetensorsFile::open(missing).status(), StatusCode::kNotFound, {missing});
  expectError(SafetensorsFile::open(dir.path()).status(), StatusCode::kFailedPrecondition,
              {dir.path(), "not a regular file"});
}

// ---------------------------------------------------------------------------------------
// Corrupt files: each case mutates the bytes of one valid file.

// The valid file's tensors: alpha F32 [2,3] at [0,24], beta I16 [4] at [24,32], gamma U8 [5]
// at [32,37].
constexpr const char* kBaseHeader =
    R"({"__metadata__":{"format":"pt"},)"
    R"("alpha":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
    R"("beta":{"dtype":"I16","shape":[4],"data_offsets":[24,32]},)"
    R"("gamma":{"dtype":"U8","shape":[5],"data_offsets":[32,37]}})";

uint64_t prefixOf(const std::string& f) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(f[i]);
  return n;
}

void setPrefix(std::string& f, uint64_t n) {
  for (int i = 0; i < 8; ++i) f[i] = static_cast<char>((n >> (8 * i)) & 0xff);
}

// Replaces the header text, keeping the data section; pads with spaces to 8 bytes.
void setHeader(std::string& f, std::string header) {
  std::string data = f.substr(8 + prefixOf(f));
  header.append((8 - header.size() % 8) % 8, ' ');
  f = std::string(8, '\0') + header + data;
  setPrefix(f, header.size());
}

void replaceInHeader(std::string& f, const std::string& from, const std::string& to) {
  std::string header = f.substr(8, prefixOf(f));
  size_t pos = header.find(from);
  if (pos == std::string::npos) {
    ADD_FAILURE() << "mutation target not in header: " << from;
    return;
  }
  header.replace(pos, from.size(), to);
  setHeader(f, header);
}

std::function<void(std::string&)> replacing(std::string from, std::string to) {
  return [from, to](std::string& f) { replaceInHeader(f, from, to); };
}

struct CorruptCase {
  std::string name;
  std::function<void(std::string&)> mutate;
  StatusCode code;
  std::vector<std::string> needles;  // besides the file path, which every message must name
};

void PrintTo(const CorruptCase& c, std::ostream* os) { *os << c.name; }

class SafetensorsCorruptTest : public ::testing::TestWithParam<CorruptCase> {};

TEST_P(SafetensorsCorruptTest, IsRejected) {
  const CorruptCase& c = GetParam();
  TempDir dir;
  const std::vector<OwnedTensor> tensors = {makeTensor("alpha", DType::kF32, {2, 3}, 1),
                                            makeTensor("beta", DType::kI16, {4}, 2),
                                            makeTensor("gamma", DType::kU8, {5}, 3)};
  const std::string valid = dir.file("valid.safetensors");
  ASSERT_TRUE(writeSafetensors(valid, views(tensors), {{"format", "pt"}}).isOk());
  std::string bytes = readFile(valid);
  ASSERT_EQ(bytes.substr(8, std::string(kBaseHeader).size()), kBaseHeader);
  ASSERT_TRUE(SafetensorsFile::open(valid).isOk());

  c.mutate(bytes);
  const std::string path = dir.file("corrupt_" + c.name + ".safetensors");
  writeFile(path, bytes);
  auto file = SafetensorsFile::open(path);
  ASSERT_FALSE(file.isOk()) << "accepted a corrupt file";
  std::vector<std::string> needles = c.needles;
  needles.push_back(path);
  expectError(file.status(), c.code, needles);
}

const CorruptCase kCorruptCases[] = {
    {"TooShort", [](std::string& f) { f.resize(5); }, StatusCode::kDataLoss,
     {"5 bytes", "shorter than the 8-byte"}},
    {"HeaderLongerThanFile", [](std::string& f) { setPrefix(f, 5'000'000); },
     StatusCode::kDataLoss, {"header length 5000000 exceeds the"}},
    {"HeaderAbsurd", [](std::string& f) { setPrefix(f, uint64_t{1} << 40); },
     StatusCode::kDataLoss, {"1099511627776", "100000000"}},
    {"HeaderLengthMax",
     [](std::string& f) { setPrefix(f, std::numeric_limits<uint64_t>::max()); },
     StatusCode::kDataLoss, {"18446744073709551615"}},
    {"NotJson", replacing(R"({"__metadata__")", R"(#"__metadata__")"), StatusCode::kDataLoss,
     {"not valid JSON"}},
    {"NotAnObject", [](std::string& f) { setHeader(f, "[1,2,3]"); }, StatusCode::kDataLoss,
     {"must be a JSON object", "array"}},
    {"DeeplyNested",
     [](std::string& f) { setHeader(f, std::string(100000, '[') + std::string(100000, ']')); },
     StatusCode::kDataLoss, {"must be a JSON object"}},
    {"InvalidUtf8Name", replacing("\"gamma\"", "\"gam\xff\xfe\""), StatusCode::kDataLoss,
     {"not valid JSON"}},
    {"EntryNotObject", replacing(R"({"dtype":"I16","shape":[4],"data_offsets":[24,32]})", "[1]"),
     StatusCode::kDataLoss, {"'beta'", "must be an object"}},
    {"MissingDtype", replacing(R"("beta":{"dtype")", R"("beta":{"dtypo")"),
     StatusCode::kDataLoss, {"'beta'", "missing field 'dtype'"}},
    {"DtypeNotString", replacing(R"("dtype":"I16")", R"("dtype":16)"), StatusCode::kDataLoss,
     {"'beta'", "'dtype' must be a string", "16"}},
    {"UnknownDtype", replacing(R"("I16")", R"("I17")"), StatusCode::kDataLoss,
     {"'beta'", "unknown dtype 'I17'", "F8_E5M2"}},
    {"MissingShape", replacing(R"("shape":[4],)", ""), StatusCode::kDataLoss,
     {"'beta'", "missing field 'shape'"}},
    {"ShapeNotArray", replacing(R"("shape":[4])", R"("shape":"4")"), StatusCode::kDataLoss,
     {"'beta'", "'shape' must be an array", "\"4\""}},
    {"ShapeFloat", replacing(R"("shape":[4])", R"("shape":[4.0])"), StatusCode::kDataLoss,
     {"'beta'", "'shape' must be an array of integers"}},
    {"NegativeDim", replacing(R"("shape":[4])", R"("shape":[-4])"), StatusCode::kDataLoss,
     {"'beta'", "negative dimension -4"}},
    {"HugeDim", replacing(R"("shape":[4])", R"("shape":[18446744073709551615])"),
     StatusCode::kDataLoss, {"'beta'", "18446744073709551615", "int64"}},
    {"NumelOverflow", replacing(R"("shape":[5])", R"("shape":[4294967296,4294967296])"),
     StatusCode::kDataLoss, {"'gamma'", "[4294967296, 4294967296]", "overflows"}},
    {"MissingOffsets", replacing(R"(,"data_offsets":[24,32])", ""), StatusCode::kDataLoss,
     {"'beta'", "missing field 'data_offsets'"}},
    {"OffsetsWrongArity", replacing("[24,32]", "[24,32,40]"), StatusCode::kDataLoss,
     {"'beta'", "[begin, end]", "[24,32,40]"}},
    {"OffsetsNegative", replacing("[24,32]", "[-24,32]"), StatusCode::kDataLoss,
     {"'beta'", "non-negative", "[-24,32]"}},
    {"OffsetsNotNumbers", replacing("[24,32]", R"(["24","32"])"), StatusCode::kDataLoss,
     {"'beta'", "data_offsets"}},
    {"BeginAfterEnd", replacing("[32,37]", "[37,32]"), StatusCode::kDataLoss,
     {"'gamma'", "[37, 32]", "begin > end"}},
    // The header lies: a consistent shape and offsets that run past the data section.
    {"EndBeyondData", replacing(R"("shape":[5],"data_offsets":[32,37])",
                                R"("shape":[67],"data_offsets":[32,99])"),
     StatusCode::kDataLoss, {"'gamma'", "[32, 99]", "beyond the data section of 37 bytes"}},
    {"TruncatedData", [](std::string& f) { f.resize(f.size() - 3); }, StatusCode::kDataLoss,
     {"'gamma'", "[32, 37]", "data section of 34 bytes"}},
    {"SizeMismatch", replacing(R"("shape":[4])", R"("shape":[5])"), StatusCode::kDataLoss,
     {"'beta'", "span 8 bytes", "needs 10 bytes", "numel 5 x 2"}},
    {"Overlap", replacing(R"([24,32])", R"([20,28])"), StatusCode::kDataLoss,
     {"'beta'", "[20, 28]", "overlap", "'alpha'", "[0, 24]"}},
    {"Hole", replacing(R"("shape":[2,3],"data_offsets":[0,24])",
                       R"("shape":[2,2],"data_offsets":[0,16])"),
     StatusCode::kDataLoss, {"'beta'", "hole", "[16, 24)"}},
    {"LeadingHole", replacing(R"("shape":[2,3],"data_offsets":[0,24])",
                              R"("shape":[2,2],"data_offsets":[8,24])"),
     StatusCode::kDataLoss, {"'alpha'", "hole", "[0, 8)"}},
    {"TrailingBytes", [](std::string& f) { f.append("extra"); }, StatusCode::kDataLoss,
     {"data section is 42 bytes", "cover only 37", "5 trailing bytes", "'gamma'"}},
    {"DuplicateName", replacing(R"("gamma":)", R"("beta":)"), StatusCode::kDataLoss,
     {"'beta'", "more than once"}},
    {"MetadataNotObject", replacing(R"({"format":"pt"})", R"(["pt"])"), StatusCode::kDataLoss,
     {"__metadata__", "array"}},
    {"MetadataValueNotString", replacing(R"({"format":"pt"})", R"({"format":7})"),
     StatusCode::kDataLoss, {"__metadata__", "'format'", "number"}},
};

INSTANTIATE_TEST_SUITE_P(Cases, SafetensorsCorruptTest, ::testing::ValuesIn(kCorruptCases),
                         [](const ::testing::TestParamInfo<CorruptCase>& info) {
                           return info.param.name;
                         });

// ---------------------------------------------------------------------------------------
// Checkpoint directories

class SafetensorsOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(MAMBA_PYTHON_EXECUTABLE)) {
      GTEST_SKIP() << "no Python at " << MAMBA_PYTHON_EXECUTABLE
                   << " (configure with -DMAMBA_PYTHON_EXECUTABLE=...)";
    }
  }

  // Runs the oracle script with `args`; fails the test with its output on error.
  void runOracle(const std::string& args) {
    const std::string log = dir_.file("oracle.log");
    const std::string cmd = std::string("\"") + MAMBA_PYTHON_EXECUTABLE + "\" \"" +
                            MAMBA_SOURCE_DIR + "/tests/oracle/safetensors_cases.py\" " + args +
                            " > \"" + log + "\" 2>&1";
    int rc = std::system(cmd.c_str());
    ASSERT_EQ(rc, 0) << cmd << "\n" << readFile(log);
  }

  // Has Python write its cases into dir_/py and returns expected.json.
  nlohmann::json writePythonCases() {
    runOracle("write \"" + dir_.file("py") + "\"");
    return nlohmann::json::parse(readFile(dir_.file("py/expected.json")));
  }

  static std::vector<OwnedTensor> tensorsOf(const nlohmann::json& spec) {
    std::vector<OwnedTensor> out;
    for (const auto& [name, t] : spec["tensors"].items()) {
      std::optional<DType> dt = parseDType(t["dtype"].get<std::string>());
      EXPECT_TRUE(dt.has_value()) << name;
      out.push_back({name, dt.value_or(DType::kU8), t["shape"].get<std::vector<int64_t>>(),
                     hexDecode(t["hex"].get<std::string>())});
    }
    return out;
  }

  static nlohmann::json specOf(const std::vector<OwnedTensor>& tensors,
                               const std::map<std::string, std::string>& metadata) {
    nlohmann::json spec;
    spec["metadata"] = metadata;
    spec["tensors"] = nlohmann::json::object();
    for (const OwnedTensor& t : tensors) {
      spec["tensors"][t.name] = {
          {"dtype", dtypeName(t.dtype)}, {"shape", t.shape}, {"hex", hexEncode(t.data)}};
    }
    return spec;
  }

  TempDir dir_;
};

TEST_F(SafetensorsOracle, ReadsPythonWrittenFilesAndCheckpoints) {
  nlohmann::json expected = writePythonCases();
  if (HasFatalFailure()) return;
  for (const char* name : {"py_all.safetensors", "py_meta.safetensors"}) {
    SCOPED_TRACE(name);
    auto file = SafetensorsFile::open(dir_.file(std::string("py/") + name));
    ASSERT_TRUE(file.isOk()) << file.status().toString();
    expectHolds(**file, tensorsOf(expected[name]));
    EXPECT_EQ((*file)->metadata(),
              (expected[name]["metadata"].get<std::map<std::string, std::string>>()));
  }
  for (const char* name : {"ckpt_sharded", "ckpt_single"}) {
    SCOPED_TRACE(name);
    auto ckpt = SafetensorsCheckpoint::openDir(dir_.file(std::string("py/") + name));
    ASSERT_TRUE(ckpt.isOk()) << ckpt.status().toString();
    const std::vector<OwnedTensor> tensors = tensorsOf(expected[name]);
    EXPECT_EQ((*ckpt)->names().size(), tensors.size());
    for (const OwnedTensor& t : tensors) {
      auto entry = (*ckpt)->find(t.name);
      ASSERT_TRUE(entry.has_value()) << t.name;
      EXPECT_EQ(entry->info->dtype, t.dtype) << t.name;
      EXPECT_EQ(entry->info->shape, t.shape) << t.name;
      EXPECT_EQ(toString(entry->file->bytes(*entry->info)), t.data) << t.name;
    }
  }
  auto sharded = SafetensorsCheckpoint::openDir(dir_.file("py/ckpt_sharded"));
  ASSERT_TRUE(sharded.isOk());
  EXPECT_EQ((*sharded)->files().size(), 2u);
}

// Given the same tensors and a single metadata entry, the C++ writer produces the very bytes
// the Python library does.
TEST_F(SafetensorsOracle, WriterMatchesPythonBytes) {
  nlohmann::json expected = writePythonCases();
  if (HasFatalFailure()) return;
  for (const auto& [pyFile, spec] :
       {std::pair("py_all.safetensors", expected["py_all.safetensors"]),
        std::pair("ckpt_single/model.safetensors", expected["ckpt_single"])}) {
    SCOPED_TRACE(pyFile);
    const std::vector<OwnedTensor> tensors = tensorsOf(spec);
    const auto metadata = spec["metadata"].get<std::map<std::string, std::string>>();
    ASSERT_EQ(metadata.size(), 1u);
    const std::string ours = dir_.file("cpp.safetensors");
    ASSERT_TRUE(writeSafetensors(ours, views(tensors), metadata).isOk());
    const std::string theirs = readFile(dir_.file(std::string("py/") + pyFile));
    const std::string mine = readFile(ours);
    ASSERT_EQ(mine.size(), theirs.size());
    EXPECT_TRUE(mine == theirs) << "header ours:   " << mine.substr(8, prefixOf(mine)) << "\n"
                                << "header theirs: " << theirs.substr(8, prefixOf(theirs));
  }
}

TEST_F(SafetensorsOracle, PythonReadsCppWrittenFiles) {
  nlohmann::json manifest;
  // Every dtype, scalars, zero-size tensors, several metadata entries incl. escapes.
  const std::vector<OwnedTensor> all = everyDtypeTensors();
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"note", "caf\xc3\xa9 \"q\"\n\\\t"}, {"z", ""}};
  ASSERT_TRUE(writeSafetensors(dir_.file("all.safetensors"), views(all), meta).isOk());
  manifest[dir_.file("all.safetensors")] = specOf(all, meta);
  // No tensors at all.
  ASSERT_TRUE(writeSafetensors(dir_.file("none.safetensors"), {}, {{"format", "pt"}}).isOk());
  manifest[dir_.file("none.safetensors")] = specOf({}, {{"format", "pt"}});
  // Only zero-size tensors (an empty data section) and unusual names.
  const std::vector<OwnedTensor> zeros = {makeTensor("a/b:c \"d\"", DType::kF32, {0}, 0),
                                          makeTensor("\xc3\xa9t\xc3\xa9", DType::kI64, {4, 0}, 0)};
  ASSERT_TRUE(writeSafetensors(dir_.file("zeros.safetensors"), views(zeros)).isOk());
  manifest[dir_.file("zeros.safetensors")] = specOf(zeros, {});
  writeFile(dir_.file("manifest.json"), manifest.dump());
  runOracle("verify \"" + dir_.file("manifest.json") + "\"");
}

}  // namespace
}  // namespace mamba
