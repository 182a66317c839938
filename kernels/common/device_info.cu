#include "kernels/common/device_info.h"

#include <map>
#include <mutex>

#include "kernels/common/cuda_check.cuh"

namespace mamba::kernels {

DeviceInfo currentDeviceInfo() {
  static std::mutex mu;
  static std::map<int, DeviceInfo> cache;
  int dev = 0;
  MAMBA_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(dev);
  if (it != cache.end()) return it->second;
  DeviceInfo d;
  MAMBA_CUDA_CHECK(cudaDeviceGetAttribute(&d.major, cudaDevAttrComputeCapabilityMajor, dev));
  MAMBA_CUDA_CHECK(cudaDeviceGetAttribute(&d.sms, cudaDevAttrMultiProcessorCount, dev));
  MAMBA_CUDA_CHECK(cudaDeviceGetAttribute(&d.smemOptin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  MAMBA_CUDA_CHECK(cudaDeviceGetAttribute(&d.smemPerSm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev));
  cache.emplace(dev, d);
  return d;
}

}  // namespace mamba::kernels
