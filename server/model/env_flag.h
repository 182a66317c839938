// On/off switches of the model's CUDA paths read from the environment (for A/B runs).
#pragma once

#include <cstdlib>
#include <string_view>

namespace mamba {

// False only when the environment variable `name` is "0" (callers read it once per process).
inline bool envFlagOn(const char* name) {
  const char* e = std::getenv(name);
  return e == nullptr || std::string_view(e) != "0";
}

}  // namespace mamba
