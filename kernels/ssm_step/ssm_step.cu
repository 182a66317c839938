#include "kernels/ssm_step/ssm_step.cuh"

namespace mamba::kernels {

extern template void launchSsmStepTyped<float>(const SsmStepParams&, Stream);
extern template void launchSsmStepTyped<__half>(const SsmStepParams&, Stream);
extern template void launchSsmStepTyped<__nv_bfloat16>(const SsmStepParams&, Stream);

void launchSsmStep(const SsmStepParams& p, Stream stream) {
  if (p.stateSize < 1 || p.stateSize > 1024 || p.nGroups < 1 || p.nHeads % p.nGroups != 0) {
    throw CudaError("launchSsmStep: invalid sizes");
  }
  if (p.stateElem != ElemType::kF32 && p.stateElem != ElemType::kBF16) {
    throw CudaError("launchSsmStep: the state must be fp32 or bf16");
  }
  MAMBA_DISPATCH_ELEM(p.dtElem, launchSsmStepTyped<T>(p, stream));
}

}  // namespace mamba::kernels
