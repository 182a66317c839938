// Kernel launch with programmatic dependent launch (PDL, sm_90+): a kernel launched through
// launchKernel may be scheduled while the previous kernel in its stream is still running, which
// hides most of the launch gap between the short kernels of a decode step (also inside CUDA
// graphs, where stream capture turns it into a programmatic edge).
//
// Contract: every kernel launched through launchKernel (or with the PDL attribute by its own
// launcher, as kernels/decode_gemm's cluster launch does) calls pdlEnter() before its first
// access to memory that an earlier kernel writes (constant weights may be read before it, to
// overlap their loads with the previous kernel). pdlEnter waits until the previous kernel has
// completed and its writes are visible, then lets the next kernel begin launching. Hence a
// kernel that has started may also read, before pdlEnter, memory last written two or more
// kernels back (the previous kernel cannot have let it start before completing its own wait);
// it may write nothing before pdlEnter (the previous kernel may still read any buffer). Kernels of
// other libraries (cuBLAS, LibTorch) are ordinary stream neighbours: they neither wait early
// nor start early.
// MAMBA_DISABLE_PDL=1 in the environment turns the attribute off (for A/B timing); a
// PdlScope(false) (kernels/common/launch_scope.h) turns it off for one thread's launches.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/device_info.h"
#include "kernels/common/launch_scope.h"

namespace mamba::kernels {

__device__ __forceinline__ void pdlEnter() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Of the current device (kernels/common/device_info.h: cached per device; throw CudaError
// without one).
inline int deviceMajor() { return currentDeviceInfo().major; }
inline int deviceSmCount() { return currentDeviceInfo().sms; }

// Whether the current device supports PDL and it is not disabled (decided once per process).
inline bool pdlEnabled() {
  static const bool enabled = [] {
    const char* off = std::getenv("MAMBA_DISABLE_PDL");
    if (off != nullptr && off[0] != '\0' && off[0] != '0') return false;
    try {
      return deviceMajor() >= 9;
    } catch (const CudaError&) {
      return false;
    }
  }();
  return enabled;
}

// Raises a kernel's dynamic shared-memory limit (required above 48 KB) on the current device,
// once per device: the attribute belongs to each device's context, so a process that drives
// several GPUs needs it on each. One instance per kernel (a function-local static beside the
// launch); thread-safe (two threads may both set it: harmless). Devices past the 64th are set
// on every call.
class DynamicSmemLimit {
 public:
  template <typename... KernelArgs>
  void ensure(void (*kernel)(KernelArgs...), int bytes) {
    int device = 0;
    MAMBA_CUDA_CHECK(cudaGetDevice(&device));
    const uint64_t bit = device >= 0 && device < 64 ? uint64_t{1} << device : 0;
    if (bit != 0 && (done_.load(std::memory_order_acquire) & bit) != 0) return;
    MAMBA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes));
    done_.fetch_or(bit, std::memory_order_acq_rel);
  }

 private:
  std::atomic<uint64_t> done_{0};
};

// The launch configuration without attributes.
inline cudaLaunchConfig_t launchConfig(dim3 grid, dim3 block, size_t smem, cudaStream_t stream) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  return config;
}

// kernel<<<grid, block, smem, stream>>>(args...), checked, with PDL where enabled; with
// clusterX > 0, in thread-block clusters of clusterX x 1 x 1 blocks (sm_90+; grid.x a multiple).
template <typename... KernelArgs, typename... Args>
void launchKernelClustered(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                           unsigned clusterX, Args&&... args) {
  cudaLaunchConfig_t config = launchConfig(grid, block, smem, stream);
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (clusterX > 0) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = clusterX;
    attr[n].val.clusterDim.y = 1;
    attr[n].val.clusterDim.z = 1;
    ++n;
  }
  if (pdlEnabled() && pdlAllowedOnThread()) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n].val.programmaticStreamSerializationAllowed = 1;
    ++n;
  }
  config.attrs = attr;
  config.numAttrs = n;
  MAMBA_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

template <typename... KernelArgs, typename... Args>
void launchKernel(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                  Args&&... args) {
  launchKernelClustered(kernel, grid, block, smem, stream, 0, std::forward<Args>(args)...);
}

// kernel<<<grid, block, smem, stream>>>(args...), checked, without PDL; cooperative: all CTAs
// co-resident (the launch fails rather than run a grid that does not fit), for kernels that
// synchronise the whole grid.
template <typename... KernelArgs, typename... Args>
void launchKernelCooperative(void (*kernel)(KernelArgs...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                             bool cooperative, Args&&... args) {
  cudaLaunchConfig_t config = launchConfig(grid, block, smem, stream);
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  config.attrs = attr;
  config.numAttrs = cooperative ? 1 : 0;
  MAMBA_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace mamba::kernels
