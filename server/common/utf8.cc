#include "server/common/utf8.h"

namespace mamba::utf8 {
namespace {

// Allowed range of the second byte for each lead byte (Unicode Table 3-7); later
// continuation bytes are always 0x80..0xBF.
struct LeadInfo {
  uint8_t length;  // 0 = never valid as a lead byte
  uint8_t lo;
  uint8_t hi;
};

constexpr LeadInfo leadInfo(uint8_t b) {
  if (b < 0x80) return {1, 0, 0};
  if (b < 0xC2) return {0, 0, 0};
  if (b < 0xE0) return {2, 0x80, 0xBF};
  if (b == 0xE0) return {3, 0xA0, 0xBF};
  if (b == 0xED) return {3, 0x80, 0x9F};
  if (b < 0xF0) return {3, 0x80, 0xBF};
  if (b == 0xF0) return {4, 0x90, 0xBF};
  if (b < 0xF4) return {4, 0x80, 0xBF};
  if (b == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

}  // namespace

Scan scanAt(std::string_view bytes, size_t pos) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data()) + pos;
  const size_t avail = bytes.size() - pos;
  const uint8_t b0 = p[0];
  const LeadInfo info = leadInfo(b0);
  if (info.length == 1) return {Scan::kValid, 1, b0};
  if (info.length == 0) return {Scan::kInvalid, 1, 0};
  char32_t cp = b0 & (0xFF >> (info.length + 1));
  for (uint8_t k = 1; k < info.length; ++k) {
    if (k >= avail) return {Scan::kTruncated, k, 0};
    const uint8_t b = p[k];
    const uint8_t lo = k == 1 ? info.lo : 0x80;
    const uint8_t hi = k == 1 ? info.hi : 0xBF;
    if (b < lo || b > hi) return {Scan::kInvalid, k, 0};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {Scan::kValid, info.length, cp};
}

bool isValid(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<uint8_t>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Scan s = scanAt(bytes, pos);
    if (s.kind != Scan::kValid) return false;
    pos += s.length;
  }
  return true;
}

std::string replaceInvalid(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 8);
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Scan s = scanAt(bytes, pos);
    if (s.kind == Scan::kValid) {
      out.append(bytes.substr(pos, s.length));
    } else {
      out.append(kReplacementUtf8);
    }
    pos += s.length;
  }
  return out;
}

void append(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

char32_t decodeValid(std::string_view text, size_t& pos) {
  const auto b0 = static_cast<uint8_t>(text[pos]);
  if (b0 < 0x80) {
    ++pos;
    return b0;
  }
  const Scan s = scanAt(text, pos);
  // Defensive: on ill-formed input consume the subpart and report U+FFFD.
  pos += s.length;
  return s.kind == Scan::kValid ? s.codePoint : kReplacementChar;
}

}  // namespace mamba::utf8
