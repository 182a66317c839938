// Instantiation of the SSM decode step for dt of type __half.
#include "kernels/ssm_step/ssm_step.cuh"

namespace mamba::kernels {
template void launchSsmStepTyped<__half>(const SsmStepParams&, Stream);
}  // namespace mamba::kernels
