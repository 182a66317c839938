// The GPT-2 byte-level alphabet: a bijection between the 256 byte values and 256 printable
// code points (printable Latin-1 bytes map to themselves, the others to U+0100..U+0143).
//
// Byte-level BPE vocabularies are written in this alphabet. Tables are built once and are
// read-only afterwards; all functions are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mamba::byte_level {

// The alphabet code point that stands for byte `b`.
char32_t byteToChar(uint8_t b);

// The byte that alphabet code point `cp` stands for, if `cp` is in the alphabet.
std::optional<uint8_t> charToByte(char32_t cp);

// Appends to `out` the UTF-8 of the alphabet characters for each byte of `bytes`.
void appendEncoded(std::string_view bytes, std::string& out);

// HF ByteLevel decoder on one token string (well-formed UTF-8): if every character is in
// the alphabet, the bytes they stand for; otherwise the token's own UTF-8 bytes unchanged.
std::string decodeToken(std::string_view token);

}  // namespace mamba::byte_level
