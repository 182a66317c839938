// Instantiations of the prefill conv for inputs of type __nv_bfloat16 (fp32 or bf16 output).
#include "kernels/conv_prefill/conv_prefill.cuh"

namespace mamba::kernels {
template void launchConvPrefillTyped<__nv_bfloat16, float>(const ConvPrefillParams&, Stream);
template void launchConvPrefillTyped<__nv_bfloat16, __nv_bfloat16>(const ConvPrefillParams&, Stream);
}  // namespace mamba::kernels
