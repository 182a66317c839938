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
  if (p.y != nullptr && (p.groups < 1 || p.cols % p.groups != 0)) throw CudaError("launchGemv: groups must divide K");
  if (gemvSharedBytes(p.batch, p.cols) > kGemvMaxSharedBytes) throw CudaError("launchGemv: batch x K inputs exceed the shared memory");
  MAMBA_DISPATCH_ELEM(p.elem, launchGemvTyped<T>(p, stream));
}

}  // namespace mamba::kernels
