// Instantiation of the conv decode step for inputs of type __nv_bfloat16.
#include "kernels/conv_step/conv_step.cuh"

namespace mamba::kernels {
template void launchConvStepTyped<__nv_bfloat16>(const ConvStepParams&, Stream);
}  // namespace mamba::kernels
