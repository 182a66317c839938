// Instantiation of the persistent decode for float.
#include "kernels/decode_persistent/decode_persistent.cuh"

namespace mamba::kernels {
template void launchPersistentDecodeTyped<float>(const PersistentDecodeParams&, int, int64_t, int, int, Stream);
}  // namespace mamba::kernels
