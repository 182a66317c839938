// Instantiation of the persistent decode for __nv_bfloat16.
#include "kernels/decode_persistent/decode_persistent.cuh"

namespace mamba::kernels {
template void launchPersistentDecodeTyped<__nv_bfloat16>(const PersistentDecodeParams&, int, int64_t, int, int, Stream);
}  // namespace mamba::kernels
