// Instantiation of the SSM decode step for dt of type float.
#include "kernels/ssm_step/ssm_step.cuh"

namespace mamba::kernels {
template void launchSsmStepTyped<float>(const SsmStepParams&, Stream);
}  // namespace mamba::kernels
