// Instantiation of the conv decode step for inputs of type __half.
#include "kernels/conv_step/conv_step.cuh"

namespace mamba::kernels {
template void launchConvStepTyped<__half>(const ConvStepParams&, Stream);
}  // namespace mamba::kernels
