#include "kernels/norm/norm.cuh"

namespace mamba::kernels {

extern template void launchAddRmsNormTyped<float>(const AddRmsNormParams&, Stream);
extern template void launchAddRmsNormTyped<__half>(const AddRmsNormParams&, Stream);
extern template void launchAddRmsNormTyped<__nv_bfloat16>(const AddRmsNormParams&, Stream);
extern template void launchGatedRmsNormTyped<float>(const GatedRmsNormParams&, Stream);
extern template void launchGatedRmsNormTyped<__half>(const GatedRmsNormParams&, Stream);
extern template void launchGatedRmsNormTyped<__nv_bfloat16>(const GatedRmsNormParams&, Stream);

void launchAddRmsNorm(const AddRmsNormParams& p, Stream stream) {
  if (p.deltaSumSq != nullptr && (p.delta == nullptr || p.deltaSumSqParts < 1 || p.deltaNormWidth < 1)) {
    throw CudaError("launchAddRmsNorm: a delta row scale needs delta, deltaSumSqParts >= 1 and deltaNormWidth >= 1");
  }
  MAMBA_DISPATCH_ELEM(p.elem, launchAddRmsNormTyped<T>(p, stream));
}

void launchGatedRmsNorm(const GatedRmsNormParams& p, Stream stream) {
  if (p.groups < 1 || p.width % p.groups != 0) throw CudaError("launchGatedRmsNorm: groups must divide width");
  MAMBA_DISPATCH_ELEM(p.elem, launchGatedRmsNormTyped<T>(p, stream));
}

}  // namespace mamba::kernels
