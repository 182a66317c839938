// Instantiation of the persistent decode for __half.
#include "kernels/decode_persistent/decode_persistent.cuh"

namespace mamba::kernels {
template void launchPersistentDecodeTyped<__half>(const PersistentDecodeParams&, int, int64_t, int, int, Stream);
}  // namespace mamba::kernels
