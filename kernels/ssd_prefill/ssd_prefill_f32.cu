// Instantiation of the SSD prefill kernels for operands of type float.
#include "kernels/ssd_prefill/ssd_prefill_launch.cuh"

namespace mamba::kernels {
template void launchSsdPrefillTyped<float>(const SsdPrefillParams&, Stream);
}  // namespace mamba::kernels
