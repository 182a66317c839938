// Switches and tuning values of the model's CUDA paths read from the environment (A/B runs).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace mamba {

// False only when the environment variable `name` is "0" (callers read it once per process).
inline bool envFlagOn(const char* name) {
  const char* e = std::getenv(name);
  return e == nullptr || std::string_view(e) != "0";
}

// True only when the environment variable `name` is "1" (opt-in switches).
inline bool envFlagSet(const char* name) {
  const char* e = std::getenv(name);
  return e != nullptr && std::string_view(e) == "1";
}

// The environment variable `name` as a positive integer, else `fallback`.
inline int64_t envPositiveInt(const char* name, int64_t fallback) {
  const char* e = std::getenv(name);
  const int v = e != nullptr ? std::atoi(e) : 0;
  return v > 0 ? static_cast<int64_t>(v) : fallback;
}

}  // namespace mamba
