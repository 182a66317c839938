#include "server/tokenizer/gpt2_pattern.h"

#include "server/tokenizer/unicode_class.h"
#include "server/common/utf8.h"

namespace mamba {
namespace {

using unicode::CharClass;

struct Char {
  char32_t cp;
  CharClass cls;
  size_t end;  // byte offset just past the character
};

Char charAt(std::string_view text, size_t pos) {
  size_t end = pos;
  const char32_t cp = utf8::decodeValid(text, end);
  return {cp, unicode::classify(cp), end};
}

// Byte offset just past the run of characters of class `cls` starting at `pos`.
size_t runEnd(std::string_view text, size_t pos, CharClass cls) {
  while (pos < text.size()) {
    const Char c = charAt(text, pos);
    if (c.cls != cls) break;
    pos = c.end;
  }
  return pos;
}

// Length of the contraction ('s 't 're 've 'm 'll 'd) at `pos`, or 0.
size_t contractionLength(std::string_view text, size_t pos) {
  const std::string_view rest = text.substr(pos + 1);
  for (std::string_view suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
    if (rest.starts_with(suffix)) return 1 + suffix.size();
  }
  return 0;
}

// End of the match starting at `pos` (< text.size()).
size_t matchEnd(std::string_view text, size_t pos) {
  const Char c0 = charAt(text, pos);
  if (c0.cp == U'\'') {
    if (const size_t len = contractionLength(text, pos)) return pos + len;
  }
  if (c0.cp == U' ' && c0.end < text.size()) {
    // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+` with the space present.
    const Char c1 = charAt(text, c0.end);
    if (c1.cls != CharClass::kSpace) return runEnd(text, c1.end, c1.cls);
  }
  if (c0.cls != CharClass::kSpace) return runEnd(text, c0.end, c0.cls);
  // `\s+(?!\S)` then `\s+`: find the whitespace run and the start of its last character.
  size_t lastStart = pos;
  size_t end = c0.end;
  while (end < text.size()) {
    const Char c = charAt(text, end);
    if (c.cls != CharClass::kSpace) break;
    lastStart = end;
    end = c.end;
  }
  if (end == text.size()) return end;       // run reaches the end: (?!\S) holds
  if (lastStart > pos) return lastStart;    // give back the last space to the next match
  return end;                               // single space before \S: plain `\s+`
}

}  // namespace

void splitGpt2Pattern(std::string_view text, std::vector<std::string_view>& out) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = matchEnd(text, pos);
    out.push_back(text.substr(pos, end - pos));
    pos = end;
  }
}

}  // namespace mamba
