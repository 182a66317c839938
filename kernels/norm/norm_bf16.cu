// Instantiations of the norm kernels for __nv_bfloat16.
#include "kernels/norm/norm.cuh"

namespace mamba::kernels {
template void launchAddRmsNormTyped<__nv_bfloat16>(const AddRmsNormParams&, Stream);
template void launchGatedRmsNormTyped<__nv_bfloat16>(const GatedRmsNormParams&, Stream);
}  // namespace mamba::kernels
