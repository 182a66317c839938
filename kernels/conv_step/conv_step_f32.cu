// Instantiation of the conv decode step for inputs of type float.
#include "kernels/conv_step/conv_step.cuh"

namespace mamba::kernels {
template void launchConvStepTyped<float>(const ConvStepParams&, Stream);
}  // namespace mamba::kernels
