// UTF-8 scanning, validation and repair for the tokenizer.
//
// Contract: every function accepts arbitrary bytes and never reads outside the given view.
// Repair follows Python's `bytes.decode("utf-8", errors="replace")` exactly: each maximal
// subpart of an ill-formed sequence (Unicode 15, section 3.9, "U+FFFD substitution of
// maximal subparts") becomes one U+FFFD. Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mamba::utf8 {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

// What sits at one position of a byte string.
struct Scan {
  enum Kind : uint8_t {
    kValid,      // a well-formed character of `length` bytes
    kInvalid,    // a maximal ill-formed subpart of `length` (>= 1) bytes
    kTruncated,  // `length` bytes that are a proper prefix of a well-formed character
                 // and end exactly at the end of the input
  };
  Kind kind;
  uint8_t length;
  char32_t codePoint;  // valid only for kValid
};

// Classifies the bytes at `pos` (< bytes.size()).
Scan scanAt(std::string_view bytes, size_t pos);

// True if `bytes` is well-formed UTF-8.
bool isValid(std::string_view bytes);

// Returns `bytes` with every maximal ill-formed subpart (including a truncated tail)
// replaced by U+FFFD; well-formed input comes back unchanged.
std::string replaceInvalid(std::string_view bytes);

// Appends the UTF-8 encoding of `cp` (a Unicode scalar value) to `out`.
void append(char32_t cp, std::string& out);

// Decodes the character at `pos` of well-formed UTF-8 text and advances `pos`.
// Precondition: `text` is well-formed and pos < text.size().
char32_t decodeValid(std::string_view text, size_t& pos);

}  // namespace mamba::utf8
