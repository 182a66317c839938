#include "tests/rpc/test_model.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "server/tokenizer/byte_level.h"
#include "tests/common/test_support.h"

namespace mamba::rpctest {

using namespace std::chrono_literals;

std::string builtExecutable(const std::string& relativePath) {
  return (std::filesystem::path(MAMBA_BINARY_DIR) / relativePath).string();
}

std::string byteLevelTokenizerJson() {
  nlohmann::json vocab = nlohmann::json::object();
  std::string byteChar[256];
  for (int b = 0; b < 256; ++b) {
    byte_level::appendEncoded(std::string(1, static_cast<char>(b)), byteChar[b]);
    vocab[byteChar[b]] = b;
  }
  // Ids 256..511: merges of two bytes in 0x80..0x8F (UTF-8 continuation bytes, absent from
  // the tests' ASCII prompts), so that the tokenizer covers the model's whole vocabulary and
  // sampling and scoring see the same 512 ids.
  nlohmann::json merges = nlohmann::json::array();
  for (int k = 0; k < 256; ++k) {
    const std::string& a = byteChar[0x80 + k / 16];
    const std::string& b = byteChar[0x80 + k % 16];
    vocab[a + b] = 256 + k;
    merges.push_back(a + " " + b);
  }
  nlohmann::json byteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false},
                              {"trim_offsets", true}, {"use_regex", false}};
  nlohmann::json j = {
      {"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr},
      {"added_tokens", nlohmann::json::array()}, {"normalizer", nullptr},
      {"pre_tokenizer", byteLevel}, {"post_processor", nullptr}, {"decoder", byteLevel},
      {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                 {"continuing_subword_prefix", nullptr}, {"end_of_word_suffix", nullptr},
                 {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", false},
                 {"vocab", vocab}, {"merges", merges}}}};
  return j.dump();
}

const std::string& tinyModelDir() {
  // Lives until the process exits (removed by TempDir's destructor at static destruction).
  static testing::TempDir* dir = new testing::TempDir();
  static const std::string path = [] {
    const auto out = dir->path() / "tiny";
    auto result = testing::runCommand({builtExecutable("tools/mamba-tool"), "make-model",
                                       "--preset", "tiny", "--random", "--seed", "1", "--out",
                                       out.string()},
                                      "", 60s);
    if (result.exitCode != 0) {
      std::fprintf(stderr, "mamba-tool make-model failed (%d): %s\n", result.exitCode,
                   result.output.c_str());
      std::abort();
    }
    testing::writeFile(out / "tokenizer.json", byteLevelTokenizerJson());
    std::atexit([] { delete dir; });
    return out.string();
  }();
  return path;
}

}  // namespace mamba::rpctest
