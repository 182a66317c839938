// Instantiations of the norm kernels for float.
#include "kernels/norm/norm.cuh"

namespace mamba::kernels {
template void launchAddRmsNormTyped<float>(const AddRmsNormParams&, Stream);
template void launchGatedRmsNormTyped<float>(const GatedRmsNormParams&, Stream);
}  // namespace mamba::kernels
