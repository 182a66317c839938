// Properties of the current CUDA device that size kernel grids and pick code paths, queried
// once per device and cached (thread-safe). Host code, torch-free.
#pragma once

#include <optional>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

struct DeviceInfo {
  int major = 0;      // compute capability major
  int sms = 0;        // multiprocessors
  int smemOptin = 0;  // opt-in shared memory per block, bytes
  int smemPerSm = 0;  // shared memory per multiprocessor, bytes
};

// Of the device current on the calling thread. Throws CudaError when the runtime fails (no device).
DeviceInfo currentDeviceInfo();

// currentDeviceInfo(), or nothing when the runtime fails (no device): for the launchers' support
// checks, which refuse rather than throw.
inline std::optional<DeviceInfo> currentDeviceInfoIfAny() {
  try {
    return currentDeviceInfo();
  } catch (const CudaError&) {
    return std::nullopt;
  }
}

}  // namespace mamba::kernels
