// Unicode character classes used by the pre-tokenizer and the added-token matcher.
//
// Categories come from utf8proc (its Unicode version). Definitions follow the regex engines
// that Hugging Face tokenizers uses:
//   - kLetter: \p{L} (Lu, Ll, Lt, Lm, Lo); kNumber: \p{N} (Nd, Nl, No);
//   - kSpace: Oniguruma's Unicode \s = U+0009..U+000D, U+0085, Zs, Zl, Zp, which is the
//     Unicode White_Space property;
//   - everything else (marks, punctuation, symbols, controls, unassigned) is kOther.
// Stateless and thread-safe.
#pragma once

#include <cstdint>

namespace mamba::unicode {

enum class CharClass : uint8_t { kLetter, kNumber, kSpace, kOther };

CharClass classify(char32_t cp);

inline bool isWhiteSpace(char32_t cp) { return classify(cp) == CharClass::kSpace; }

// Rust regex's Unicode \w (used by HF for single_word added tokens), approximated from
// general categories: L*, M*, Nd, Nl, Pc, plus U+200C/U+200D. (Rust uses the Alphabetic
// property, which also covers a few So/Nl characters such as circled letters.)
bool isWordChar(char32_t cp);

}  // namespace mamba::unicode
