// Torch-free reader and writer for the safetensors format
// (https://github.com/huggingface/safetensors):
//
//   [8 bytes: N, little-endian u64][N bytes: UTF-8 JSON header][data section]
//
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" string->string map.
//
// Validation follows the reference Rust crate: sorted by offset, the tensors must tile the
// data section exactly (no overlap, no hole, no trailing bytes), and every tensor's byte
// length must equal numel * dtypeSize. Every violation is DATA_LOSS with a message that
// names the file and, where one is at fault, the tensor, with expected vs actual numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace mamba {

// Element types of the safetensors spec that this project reads and writes. Files holding
// other spec dtypes (U16, U32, U64, F4, ...) are rejected as DATA_LOSS "unknown dtype".
enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool, kF8E4M3, kF8E5M2 };

// Bytes per element (1 for kBool and the FP8 types).
size_t dtypeSize(DType dtype);
// The spec's name: "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL",
// "F8_E4M3", "F8_E5M2". Static storage; never null.
const char* dtypeName(DType dtype);
// Inverse of dtypeName (exact, case-sensitive); nullopt for any other string.
std::optional<DType> parseDType(std::string_view name);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;  // empty for a 0-dim scalar
  uint64_t begin = 0;          // byte offsets in the data section, [begin, end)
  uint64_t end = 0;
  // Product of `shape` (1 for a scalar). Validated not to overflow for infos that come from
  // SafetensorsFile; for hand-built infos the caller guarantees it.
  int64_t numel() const;
};

// A memory-mapped (read-only, MAP_PRIVATE), fully validated safetensors file.
//
// Immutable after open(); every method is const and safe to call from any number of
// threads. The mapping lives exactly as long as the object. The file must not be truncated
// or rewritten in place while open (doing so may raise SIGBUS on access; writeSafetensors
// replaces files by rename, which is safe).
class SafetensorsFile {
 public:
  // Errors: NOT_FOUND if `path` does not exist; FAILED_PRECONDITION if it is not a regular
  // file or cannot be opened for reading; INTERNAL for other I/O failures (fstat, mmap);
  // DATA_LOSS for every format violation (see the file comment).
  static StatusOr<std::unique_ptr<SafetensorsFile>> open(const std::string& path);

  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  // The path as given to open().
  const std::string& path() const { return path_; }
  // In header order. References stay valid while the file object lives.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr if absent. The pointer stays valid while the file object lives.
  const TensorInfo* find(std::string_view name) const;
  // The tensor's bytes inside the mapping, valid while the file object lives. `info` must
  // come from this file's tensors()/find(); an info whose range lies outside the data
  // section yields an empty span. No alignment is guaranteed beyond what the writer gave
  // (writeSafetensors and the Python writer align every tensor to its element size).
  std::span<const std::byte> bytes(const TensorInfo& info) const;
  // The "__metadata__" map (empty if the header has none).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Size of the data section in bytes (the sum of all tensors' byte lengths).
  uint64_t dataSize() const { return dataSize_; }

 private:
  SafetensorsFile() = default;

  std::string path_;
  void* mapping_ = nullptr;  // owned; munmap'd in the destructor
  size_t mappingSize_ = 0;
  const std::byte* data_ = nullptr;  // start of the data section inside the mapping
  uint64_t dataSize_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// One tensor to write. `data` points to numel * dtypeSize contiguous, row-major,
// little-endian bytes and is only read during the writeSafetensors call (it may be null
// when numel is 0).
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
};

// Writes a safetensors file atomically: a temporary file in the same directory, fsync, then
// rename over `path`, so readers see either the old file or the complete new one.
//
// The layout matches the Python/Rust `safetensors` writer byte for byte (given at most one
// metadata entry; the Python writer orders several metadata entries arbitrarily, this one
// sorts them): tensors ordered by dtype alignment, widest first (the crate's dtype order
// I64, F64, F32, I32, BF16, F16, I16, F8_E4M3, F8_E5M2, I8, U8, BOOL), then by name
// (byte-wise); compact JSON; header padded with spaces to a multiple of 8 bytes. Every
// tensor therefore starts aligned to its element size within the data section.
//
// Errors: INVALID_ARGUMENT for a duplicate, reserved ("__metadata__") or non-UTF-8 name or
// metadata string, a negative dimension, a numel overflow, or null data with numel > 0;
// NOT_FOUND if the directory of `path` does not exist; INTERNAL for other I/O failures (the
// temporary file is removed, `path` is left untouched). Safe to call concurrently for
// different paths.
Status writeSafetensors(const std::string& path, std::span<const TensorView> tensors,
                        const std::map<std::string, std::string>& metadata = {});

}  // namespace mamba
