// Utf8StreamDecoder: turns a stream of token bytes into text deltas that never split a
// UTF-8 character.
//
// Contract: for any split of a byte string B into pushes, the concatenation of all push()
// results followed by finish() equals utf8::replaceInvalid(B) (Python's
// bytes.decode("utf-8", errors="replace")). Every returned string is well-formed UTF-8.
// push() holds back at most 3 bytes: a trailing proper prefix of a character that the
// next push may complete. Not thread-safe: one decoder per stream.
#pragma once

#include <string>
#include <string_view>

namespace mamba {

class Utf8StreamDecoder {
 public:
  // Appends `bytes` to the stream; returns the longest prefix of the pending bytes made of
  // complete characters (ill-formed subparts become U+FFFD).
  std::string push(std::string_view bytes);
  // Flushes the held-back tail (as one U+FFFD, if any) and resets the decoder.
  std::string finish();

 private:
  std::string pending_;  // an incomplete character, at most 3 bytes
};

}  // namespace mamba
