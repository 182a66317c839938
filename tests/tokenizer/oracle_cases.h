// Test support: reads the expected results that tests/oracle/tokenizer_cases.py (HF
// `tokenizers`) writes under MAMBA_TOKENIZER_TESTDATA. Aborts the calling test on error.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mamba::test {

struct EncodeCase {
  std::string name;
  std::string input;     // raw bytes (may be invalid UTF-8)
  std::string repaired;  // Python's input.decode("utf-8", "replace"), re-encoded
  bool nfcStable = false;
  std::vector<int32_t> ids;
  std::string decoded;   // HF decode(ids, skip_special_tokens=False)
};

struct DecodeCase {
  std::vector<int32_t> ids;
  bool skipSpecial = false;
  std::string text;  // HF decode(ids, skipSpecial)
};

struct OracleCases {
  std::string tokenizerFile;
  int32_t vocabSize = 0;
  std::vector<int32_t> specialIds;
  std::vector<std::pair<std::string, std::optional<int32_t>>> tokenToId;
  std::vector<EncodeCase> encode;
  std::vector<DecodeCase> decode;
};

std::string testDataPath(std::string_view file);
std::string readFileOrEmpty(const std::string& path);
std::string fromHex(std::string_view hex);

// Loads <testdata>/<name>.cases.json. Returns nullopt (after ADD_FAILURE) when unreadable.
std::optional<OracleCases> loadOracleCases(const std::string& name);

// "" when equal, else a description of the first difference.
std::string firstIdMismatch(const std::vector<int32_t>& actual,
                            const std::vector<int32_t>& expected);

}  // namespace mamba::test
