// Instantiation of the SSD prefill kernels for operands of type __nv_bfloat16.
#include "kernels/ssd_prefill/ssd_prefill_launch.cuh"

namespace mamba::kernels {
template void launchSsdPrefillTyped<__nv_bfloat16>(const SsdPrefillParams&, Stream);
}  // namespace mamba::kernels
