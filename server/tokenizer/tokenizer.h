// Tokenizer: a Hugging Face tokenizer.json (byte-level BPE) in C++, torch-free.
//
// Supported file contents (anything else is rejected with an error naming the field):
//   model:          BPE (see bpe_model.h)
//   normalizer:     null, NFC, Sequence (see normalizer.h)
//   pre_tokenizer:  null, ByteLevel, Sequence (see pre_tokenizer.h)
//   decoder:        ByteLevel
//   added_tokens:   see added_vocabulary.h (ids assigned as HF does)
//   post_processor, truncation, padding: ignored (encode() adds no BOS/EOS, never truncates
//                   or pads).
// encode() matches HF `Tokenizer.encode(text, add_special_tokens=False).ids` for every
// well-formed input. Input that is not well-formed UTF-8 is first repaired exactly like
// Python's `bytes.decode("utf-8", errors="replace")`: each maximal ill-formed subpart
// becomes U+FFFD (see utf8.h); the result is then encoded as above. Unicode properties and
// NFC come from utf8proc (Unicode 15); HF's own tables are of a similar age, so results
// could only differ for characters assigned in the most recent Unicode versions.
//
// A loaded Tokenizer is immutable: every const method may be called from many threads.
// Methods never throw and never crash on bad input.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"
#include "server/tokenizer/utf8_stream_decoder.h"

namespace mamba {

class Tokenizer {
 public:
  // Loads a Hugging Face tokenizer.json. Errors name the file and the JSON field.
  static StatusOr<std::unique_ptr<Tokenizer>> fromFile(const std::string& path);
  // Parses tokenizer.json text; `origin` (a file name or a label) prefixes every error.
  static StatusOr<std::unique_ptr<Tokenizer>> fromJson(std::string_view json,
                                                       const std::string& origin);

  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text (arbitrary bytes) -> ids. No BOS/EOS is added.
  std::vector<int32_t> encode(std::string_view text) const;

  // ids -> the concatenated token bytes (may end inside a UTF-8 character; feed a
  // Utf8StreamDecoder for text). Unknown ids are skipped; with skipSpecial, so are ids whose
  // token string is the content of a special added token. HF's decode() is this with
  // invalid UTF-8 replaced.
  std::string decode(std::span<const int32_t> ids, bool skipSpecial = false) const;

  // Raw bytes of one token after byte-level decoding; empty for unknown ids. The reference
  // stays valid for the Tokenizer's lifetime.
  const std::string& tokenBytes(int32_t id) const;

  // Max id + 1 over the vocabulary and the added tokens.
  int32_t vocabSize() const;

  // Id of a token given by its string in the vocab (byte-level alphabet) or its added-token
  // content; added tokens take precedence.
  std::optional<int32_t> tokenToId(std::string_view token) const;

  // True for ids whose added token is marked "special" (HF's added_tokens_decoder).
  bool isSpecial(int32_t id) const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace mamba
