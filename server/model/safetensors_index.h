// A Hugging Face style safetensors checkpoint directory: either a single
// `model.safetensors`, or `model.safetensors.index.json` plus the shard files it names:
//
//   {"metadata": {...}, "weight_map": {"<tensor name>": "<shard file name>", ...}}
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"
#include "server/model/safetensors.h"

namespace mamba {

inline constexpr const char* kSafetensorsSingleFile = "model.safetensors";
inline constexpr const char* kSafetensorsIndexFile = "model.safetensors.index.json";

// The open, validated files of one checkpoint. Immutable after openDir(); all methods are
// const and thread-safe. Owns every SafetensorsFile it hands out; entries stay valid while
// the checkpoint lives.
class SafetensorsCheckpoint {
 public:
  // Opens `dir`/model.safetensors if present (it wins when both exist, as in transformers),
  // else `dir`/model.safetensors.index.json and every shard it names (each once).
  //
  // Errors: NOT_FOUND if `dir` or both candidate files are missing, or a shard is missing
  // (the message names the index, the shard and a tensor mapped to it); INVALID_ARGUMENT if
  // `dir` is not a directory; DATA_LOSS for a malformed index (bad JSON, no "weight_map"
  // object, a non-string or unsafe shard name such as an absolute path or one with a ".."
  // component), for a tensor that the weight_map places in a shard lacking it, and for any
  // corrupt safetensors file. Tensors present in a shard but absent from the weight_map are
  // not reachable through find()/names().
  static StatusOr<std::unique_ptr<SafetensorsCheckpoint>> openDir(const std::string& dir);

  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  // nullopt if the checkpoint has no tensor called `name`.
  std::optional<Entry> find(std::string_view name) const;
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  // The opened files: one for a single-file checkpoint, else the shards in name order.
  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  const std::string& dir() const { return dir_; }

 private:
  SafetensorsCheckpoint() = default;

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace mamba
