// Instantiation of the SSM decode step for dt of type __nv_bfloat16.
#include "kernels/ssm_step/ssm_step.cuh"

namespace mamba::kernels {
template void launchSsmStepTyped<__nv_bfloat16>(const SsmStepParams&, Stream);
}  // namespace mamba::kernels
