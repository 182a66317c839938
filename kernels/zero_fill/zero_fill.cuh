// Kernel of launchZeroFill (zero_fill.h): grid (chunks, ranges); each block zeroes its chunks
// of one range with 16-byte stores, the unaligned head and tail byte by byte.
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/zero_fill/zero_fill.h"

namespace mamba::kernels {

constexpr int kZeroFillThreads = 256;
constexpr int64_t kZeroFillChunk = kZeroFillThreads * 16 * 4;  // bytes per block: 4 stores per thread

__global__ void __launch_bounds__(kZeroFillThreads) zeroFillKernel(const __grid_constant__ ZeroFillParams p) {
  pdlEnter();
  const int r = blockIdx.y;
  unsigned char* base = static_cast<unsigned char*>(p.ptr[r]);
  const int64_t n = p.bytes[r];
  if (n <= 0) return;
  const auto addr = reinterpret_cast<uintptr_t>(base);
  int64_t head = static_cast<int64_t>((16 - addr % 16) % 16);  // bytes before the first 16-byte boundary
  if (head > n) head = n;
  const int64_t vecs = (n - head) / 16;
  const int64_t tail0 = head + vecs * 16;
  if (blockIdx.x == 0) {
    for (int64_t i = threadIdx.x; i < head; i += blockDim.x) base[i] = 0;
    for (int64_t i = tail0 + threadIdx.x; i < n; i += blockDim.x) base[i] = 0;
  }
  uint4* v = reinterpret_cast<uint4*>(base + head);
  const uint4 zero = make_uint4(0u, 0u, 0u, 0u);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < vecs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    v[i] = zero;
  }
}

}  // namespace mamba::kernels
