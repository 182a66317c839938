// Per-thread launch options of launchKernel* (kernels/common/launch.cuh). Host code, free of
// CUDA and torch headers, so that the model layer can scope them around its adapter calls.
#pragma once

namespace mamba::kernels {

// Whether this host thread's launches may use programmatic dependent launch (when the device
// and MAMBA_DISABLE_PDL allow it at all). Default true.
inline bool& pdlAllowedOnThread() {
  static thread_local bool allowed = true;
  return allowed;
}

// Allows (true) or forbids (false) PDL for this thread's launches for its lifetime; nests.
class PdlScope {
 public:
  explicit PdlScope(bool allowed) : saved_(pdlAllowedOnThread()) { pdlAllowedOnThread() = allowed; }
  ~PdlScope() { pdlAllowedOnThread() = saved_; }
  PdlScope(const PdlScope&) = delete;
  PdlScope& operator=(const PdlScope&) = delete;

 private:
  bool saved_;
};

}  // namespace mamba::kernels
