#include "tests/common/byte_tokenizer.h"

#include <nlohmann/json.hpp>

#include "server/tokenizer/byte_level.h"

namespace mamba::testing {

std::string byteLevelTokenizerJson(int continuationMerges) {
  nlohmann::json vocab = nlohmann::json::object();
  std::string byteChar[256];
  for (int b = 0; b < 256; ++b) {
    byte_level::appendEncoded(std::string(1, static_cast<char>(b)), byteChar[b]);
    vocab[byteChar[b]] = b;
  }
  nlohmann::json merges = nlohmann::json::array();
  for (int k = 0; k < continuationMerges && k < 256; ++k) {
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

}  // namespace mamba::testing
