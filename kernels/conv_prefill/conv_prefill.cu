#include "kernels/common/env_tuning.h"
#include "kernels/conv_prefill/conv_prefill.cuh"

namespace mamba::kernels {

extern template void launchConvPrefillTyped<float, float>(const ConvPrefillParams&, Stream);
extern template void launchConvPrefillTyped<__half, float>(const ConvPrefillParams&, Stream);
extern template void launchConvPrefillTyped<__half, __half>(const ConvPrefillParams&, Stream);
extern template void launchConvPrefillTyped<__nv_bfloat16, float>(const ConvPrefillParams&, Stream);
extern template void launchConvPrefillTyped<__nv_bfloat16, __nv_bfloat16>(const ConvPrefillParams&, Stream);

void launchConvPrefill(const ConvPrefillParams& p, Stream stream) {
  if (p.kernelSize < 1 || p.kernelSize > kConvPrefillMaxKernel) {
    throw CudaError("launchConvPrefill: kernelSize must be in 1..16");
  }
  if (p.outElem != ElemType::kF32 && p.outElem != p.inputElem) {
    throw CudaError("launchConvPrefill: outElem must be kF32 or inputElem");
  }
  if (p.outPitch != 0 && (p.outStateSize < 1 || p.outPitch < p.outStateSize || p.outDInner < 0 ||
                          p.outDInner > p.channels || (p.channels - p.outDInner) % p.outStateSize != 0)) {
    throw CudaError("launchConvPrefill: bad output pitch layout");
  }
  if (p.outElem == ElemType::kF32) {
    MAMBA_DISPATCH_ELEM(p.inputElem, launchConvPrefillTyped<T, float>(p, stream));
  } else {
    MAMBA_DISPATCH_ELEM(p.inputElem, launchConvPrefillTyped<T, T>(p, stream));
  }
}

int convVecSteps() {
  // launchConvPrefillTyped sizes the vector form's shared-memory limit for kConvPrefillSteps.
  constexpr int kLongest = 32;
  static_assert(kLongest <= kConvPrefillSteps, "a vector run longer than the stage the launcher allows");
  static const int steps = [] {
    const int v = envOneOf("MAMBA_CONV_VEC_STEPS", {8, 16, kLongest});
    return v != 0 ? v : 16;
  }();
  return steps;
}

int64_t convPrefillOutWidth(const ConvPrefillParams& p) { return convOutWidth(p); }

}  // namespace mamba::kernels
