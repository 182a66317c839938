// A byte-level tokenizer.json for tests: id b = the byte b (GPT-2 ByteLevel alphabet), no
// regex split, no special tokens. With `continuationMerges` > 0 (at most 256), ids 256.. are
// merges of two bytes in 0x80..0x8F (UTF-8 continuation bytes, absent from ASCII prompts), so
// that the tokenizer can cover a model vocabulary larger than 256.
#pragma once

#include <string>

namespace mamba::testing {

std::string byteLevelTokenizerJson(int continuationMerges = 0);

}  // namespace mamba::testing
