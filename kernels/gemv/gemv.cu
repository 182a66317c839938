#include "kernels/gemv/gemv.cuh"

namespace mamba::kernels {

extern template void launchGemvTyped<float>(const GemvParams&, Stream);
extern template void launchGemvTyped<__half>(const GemvParams&, Stream);
extern template void launchGemvTyped<__nv_bfloat16>(const GemvParams&, Stream);

int64_t gemvSharedBytes(int batch, int cols) {
  int b = 1;
  while (b < batch) b *= 2;
  return static_cast<int64_t>(b) * cols * sizeof(float);
}

void launchGemv(const GemvParams& p, Stream stream) {
  if (p.batch < 1 || p.batch > kGemvMaxBatch || p.rows < 1 || p.cols < 1) throw CudaError("launchGemv: invalid sizes");
  if (gemvSharedBytes(p.batch, p.cols) > kGemvMaxSharedBytes) throw CudaError("launchGemv: batch x K inputs exceed the shared memory");
  switch (p.prologue) {
    case GemvPrologue::kNone:
      if (p.x == nullptr) throw CudaError("launchGemv: no input x");
      break;
    case GemvPrologue::kGatedRmsNorm:
      if (p.y == nullptr || p.z == nullptr || p.normWeight == nullptr) {
        throw CudaError("launchGemv: gated norm needs y, z and a weight");
      }
      if (p.groups < 1 || p.cols % p.groups != 0) throw CudaError("launchGemv: groups must divide K");
      break;
    case GemvPrologue::kRmsNorm:
      if (p.normInput == nullptr || p.normWeight == nullptr) {
        throw CudaError("launchGemv: RMSNorm needs an input and a weight");
      }
      break;
  }
  if (p.epilogue == GemvEpilogue::kResidualAdd) {
    if (p.residual == nullptr) throw CudaError("launchGemv: no residual");
  } else if (p.out == nullptr) {
    throw CudaError("launchGemv: no output");
  }
  if (p.epilogue == GemvEpilogue::kStoreConvStep) {
    const GemvConvStep& c = p.conv;
    if (c.kernelSize < 1 || c.kernelSize > kMaxConvKernel) throw CudaError("launchGemv: conv kernelSize not in 1..16");
    if (c.row0 < 0 || c.channels < 0 || c.row0 + c.channels > p.rows) throw CudaError("launchGemv: conv rows out of range");
    if (c.state == nullptr || c.slots == nullptr || c.weight == nullptr || c.out == nullptr) {
      throw CudaError("launchGemv: conv step needs state, slots, weight and out");
    }
  }
  MAMBA_DISPATCH_ELEM(p.elem, launchGemvTyped<T>(p, stream));
}

}  // namespace mamba::kernels
