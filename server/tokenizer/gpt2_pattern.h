// The GPT-2 pre-tokenization pattern, matched by hand over code points:
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// with the semantics of Oniguruma (leftmost-first alternation with backtracking), as used by
// HF's ByteLevel pre-tokenizer. Character classes come from unicode_class.h. The optional
// prefix is only U+0020; contractions are ASCII and case-sensitive. `\s+(?!\S)` leaves the
// last whitespace character of a run to the next match when a non-space follows.
// Stateless and thread-safe.
#pragma once

#include <string_view>
#include <vector>

namespace mamba {

// Appends to `out` the successive matches of the pattern in `text` (well-formed UTF-8).
// The matches are non-empty and tile `text` exactly; the views point into `text`.
void splitGpt2Pattern(std::string_view text, std::vector<std::string_view>& out);

}  // namespace mamba
