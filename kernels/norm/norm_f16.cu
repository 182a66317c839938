// Instantiations of the norm kernels for __half.
#include "kernels/norm/norm.cuh"

namespace mamba::kernels {
template void launchAddRmsNormTyped<__half>(const AddRmsNormParams&, Stream);
template void launchGatedRmsNormTyped<__half>(const GatedRmsNormParams&, Stream);
}  // namespace mamba::kernels
