#include <algorithm>

#include "kernels/zero_fill/zero_fill.cuh"

namespace mamba::kernels {

void launchZeroFill(const ZeroFillParams& p, Stream stream) {
  if (p.count < 0 || p.count > kZeroFillMaxRanges) throw CudaError("launchZeroFill: count must be in [0, 128]");
  int64_t largest = 0;
  for (int i = 0; i < p.count; ++i) {
    if (p.bytes[i] < 0 || (p.bytes[i] > 0 && p.ptr[i] == nullptr)) throw CudaError("launchZeroFill: bad range");
    largest = std::max(largest, p.bytes[i]);
  }
  if (p.count == 0 || largest == 0) return;
  // Enough blocks for the largest range in one pass, at most 64 per range (a 786 KB SSM slot
  // of the 130m shape: 48 blocks).
  const int64_t chunks = std::min<int64_t>(64, (largest + kZeroFillChunk - 1) / kZeroFillChunk);
  launchKernel(zeroFillKernel, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(p.count)),
               dim3(kZeroFillThreads), 0, static_cast<cudaStream_t>(stream), p);
}

}  // namespace mamba::kernels
