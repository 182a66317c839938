// Instantiation of the prefill conv for inputs of type float.
#include "kernels/conv_prefill/conv_prefill.cuh"

namespace mamba::kernels {
template void launchConvPrefillTyped<float, float>(const ConvPrefillParams&, Stream);
}  // namespace mamba::kernels
