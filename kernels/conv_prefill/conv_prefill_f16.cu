// Instantiations of the prefill conv for inputs of type __half (fp32 or __half output).
#include "kernels/conv_prefill/conv_prefill.cuh"

namespace mamba::kernels {
template void launchConvPrefillTyped<__half, float>(const ConvPrefillParams&, Stream);
template void launchConvPrefillTyped<__half, __half>(const ConvPrefillParams&, Stream);
}  // namespace mamba::kernels
