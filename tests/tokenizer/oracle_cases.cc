#include "tests/tokenizer/oracle_cases.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace mamba::test {

std::string testDataPath(std::string_view file) {
  return std::string(MAMBA_TOKENIZER_TESTDATA) + "/" + std::string(file);
}

std::string readFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string fromHex(std::string_view hex) {
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
  }
  return out;
}

std::optional<OracleCases> loadOracleCases(const std::string& name) {
  const std::string path = testDataPath(name + ".cases.json");
  const std::string text = readFileOrEmpty(path);
  if (text.empty()) {
    ADD_FAILURE() << "cannot read " << path << " (run the tokenizer_oracle ctest fixture)";
    return std::nullopt;
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << "malformed " << path;
    return std::nullopt;
  }
  OracleCases c;
  c.tokenizerFile = j.at("tokenizer_file").get<std::string>();
  c.vocabSize = j.at("vocab_size").get<int32_t>();
  c.specialIds = j.at("special_ids").get<std::vector<int32_t>>();
  for (const auto& [token, id] : j.at("token_to_id").items()) {
    c.tokenToId.emplace_back(token, id.is_null() ? std::nullopt
                                                 : std::optional<int32_t>(id.get<int32_t>()));
  }
  for (const nlohmann::json& e : j.at("encode")) {
    EncodeCase ec;
    ec.name = e.at("name").get<std::string>();
    ec.nfcStable = e.at("nfc_stable").get<bool>();
    ec.ids = e.at("ids").get<std::vector<int32_t>>();
    if (e.contains("input_file")) {
      ec.input = readFileOrEmpty(e.at("input_file").get<std::string>());
      if (ec.input.empty()) {
        ADD_FAILURE() << "cannot read " << e.at("input_file");
        return std::nullopt;
      }
      if (!e.at("valid_utf8").get<bool>() || !e.at("decoded_equals_input").get<bool>()) {
        ADD_FAILURE() << ec.name << ": corpus expected to be valid UTF-8 that round-trips in HF";
        return std::nullopt;
      }
      ec.repaired = ec.input;
      ec.decoded = ec.input;
    } else {
      ec.input = fromHex(e.at("input_hex").get<std::string>());
      ec.repaired = fromHex(e.at("repaired_hex").get<std::string>());
      ec.decoded = fromHex(e.at("decoded_hex").get<std::string>());
    }
    c.encode.push_back(std::move(ec));
  }
  for (const nlohmann::json& d : j.at("decode")) {
    c.decode.push_back({d.at("ids").get<std::vector<int32_t>>(), d.at("skip_special").get<bool>(),
                        fromHex(d.at("text_hex").get<std::string>())});
  }
  return c;
}

std::string firstIdMismatch(const std::vector<int32_t>& actual,
                            const std::vector<int32_t>& expected) {
  if (actual == expected) return "";
  size_t i = 0;
  while (i < actual.size() && i < expected.size() && actual[i] == expected[i]) ++i;
  std::ostringstream s;
  s << "sizes " << actual.size() << " vs expected " << expected.size()
    << "; first difference at index " << i << ": got [";
  for (size_t k = i; k < actual.size() && k < i + 8; ++k) s << actual[k] << " ";
  s << "] expected [";
  for (size_t k = i; k < expected.size() && k < i + 8; ++k) s << expected[k] << " ";
  s << "]";
  return s.str();
}

}  // namespace mamba::test
