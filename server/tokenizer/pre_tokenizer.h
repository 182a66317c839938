// PreTokenizer: the "pre_tokenizer" section of tokenizer.json.
//
// Supported: null (the whole piece is one pre-token), {"type": "ByteLevel",
// "add_prefix_space", "trim_offsets", "use_regex"} and {"type": "Sequence",
// "pretokenizers": [...]}. ByteLevel, as in HF: prepends a space to a piece that does not
// start with one (add_prefix_space), splits it with the GPT-2 pattern (use_regex, default
// true), then maps every byte of every part to the byte-level alphabet. trim_offsets only
// affects offsets, which this tokenizer does not report. Immutable; split() is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/common/status.h"

namespace mamba {

class PreTokenizer {
 public:
  // No pre-tokenization.
  PreTokenizer() = default;

  // Parses `spec` (nullptr or JSON null: none). `field` names it in errors.
  static StatusOr<PreTokenizer> fromJson(const nlohmann::json* spec, const std::string& field);

  // Appends the pre-tokens of one normalized piece (well-formed UTF-8) to `out`, in order.
  // Empty pre-tokens are dropped.
  void split(std::string_view piece, std::vector<std::string>& out) const;

 private:
  struct ByteLevelStep {
    bool addPrefixSpace = true;
    bool useRegex = true;
  };
  static Status parseInto(const nlohmann::json& spec, const std::string& field,
                          std::vector<ByteLevelStep>& steps, int depth);

  std::vector<ByteLevelStep> steps_;
};

}  // namespace mamba
