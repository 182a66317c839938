// Environment overrides of kernel launch choices, for tuning runs on the GPU machine.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <initializer_list>

namespace mamba::kernels {

// The integer value of environment variable `name` when it is one of `allowed`, else 0 (no
// override). Read on every call: callers that launch per step cache it.
inline int envOneOf(const char* name, std::initializer_list<int> allowed) {
  const char* e = std::getenv(name);
  const int v = e != nullptr ? std::atoi(e) : 0;
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end() ? v : 0;
}

}  // namespace mamba::kernels
