#include "server/tokenizer/byte_level.h"

#include <array>

#include "server/common/utf8.h"

namespace mamba::byte_level {
namespace {

struct Tables {
  std::array<char32_t, 256> byteToChar{};
  std::array<std::string, 256> byteToUtf8;
  std::array<int16_t, 0x144> charToByte{};  // alphabet code points are all < U+0144
};

const Tables& tables() {
  static const Tables t = [] {
    Tables tb;
    tb.charToByte.fill(-1);
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const char32_t cp = printable(b) ? static_cast<char32_t>(b) : next++;
      tb.byteToChar[b] = cp;
      tb.charToByte[cp] = static_cast<int16_t>(b);
      utf8::append(cp, tb.byteToUtf8[b]);
    }
    return tb;
  }();
  return t;
}

}  // namespace

char32_t byteToChar(uint8_t b) { return tables().byteToChar[b]; }

std::optional<uint8_t> charToByte(char32_t cp) {
  if (cp >= tables().charToByte.size()) return std::nullopt;
  const int16_t b = tables().charToByte[cp];
  if (b < 0) return std::nullopt;
  return static_cast<uint8_t>(b);
}

void appendEncoded(std::string_view bytes, std::string& out) {
  const Tables& t = tables();
  for (char c : bytes) out.append(t.byteToUtf8[static_cast<uint8_t>(c)]);
}

std::string decodeToken(std::string_view token) {
  std::string bytes;
  bytes.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    const std::optional<uint8_t> b = charToByte(utf8::decodeValid(token, pos));
    if (!b) return std::string(token);
    bytes.push_back(static_cast<char>(*b));
  }
  return bytes;
}

}  // namespace mamba::byte_level
