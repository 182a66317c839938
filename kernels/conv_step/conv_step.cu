#include "kernels/conv_step/conv_step.cuh"

namespace mamba::kernels {

extern template void launchConvStepTyped<float>(const ConvStepParams&, Stream);
extern template void launchConvStepTyped<__half>(const ConvStepParams&, Stream);
extern template void launchConvStepTyped<__nv_bfloat16>(const ConvStepParams&, Stream);

void launchConvStep(const ConvStepParams& p, Stream stream) {
  if (p.kernelSize < 1 || p.kernelSize > kMaxConvKernel) throw CudaError("launchConvStep: kernelSize must be in 1..16");
  MAMBA_DISPATCH_ELEM(p.inputElem, launchConvStepTyped<T>(p, stream));
}

}  // namespace mamba::kernels
