// Typed, strict reading of a YAML mapping: every error names the full key path
// ("scheduler.max_batch: must be a positive integer, got \"x\"") and unknown keys are errors.
// yaml-cpp stays out of the callers' way: only YamlMap's users in server/config see it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "server/common/status.h"

namespace mamba::config {

// The value of a scalar node as written in the file, for error messages ("x", 1.5, [a, b]).
std::string describeNode(const YAML::Node& node);

class YamlMap {
 public:
  // `node` must be a mapping or null (an empty section); `path` is its key path ("" at the
  // root, "scheduler", "models[0]").
  static StatusOr<YamlMap> from(const YAML::Node& node, std::string path);

  // INVALID_ARGUMENT naming the first key not in `allowed`, and listing `allowed`.
  Status checkKeys(std::initializer_list<const char*> allowed) const;

  bool has(const char* key) const;
  YAML::Node get(const char* key) const;
  // "scheduler.max_batch" (or "max_batch" at the root).
  std::string keyPath(const char* key) const;

  // Each reader leaves `out` untouched when the key is absent or null.
  Status readString(const char* key, std::string* out) const;  // non-empty scalar
  Status readPositiveInt(const char* key, int64_t* out) const;
  Status readNonNegativeInt(const char* key, int64_t* out) const;
  Status readNonNegativeDouble(const char* key, double* out) const;
  Status readBool(const char* key, bool* out) const;
  Status readStringList(const char* key, std::vector<std::string>* out) const;  // non-empty

 private:
  YamlMap(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {}
  Status bad(const char* key, const std::string& what, const YAML::Node& value) const;
  Status readInt(const char* key, int64_t minimum, const char* what, int64_t* out) const;

  YAML::Node node_;
  std::string path_;
};

}  // namespace mamba::config
