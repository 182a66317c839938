// Instantiation of the SSD prefill kernels for operands of type __half.
#include "kernels/ssd_prefill/ssd_prefill_launch.cuh"

namespace mamba::kernels {
template void launchSsdPrefillTyped<__half>(const SsdPrefillParams&, Stream);
}  // namespace mamba::kernels
