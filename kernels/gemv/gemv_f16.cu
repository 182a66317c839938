// Instantiation of the small-batch GEMV for __half.
#include "kernels/gemv/gemv.cuh"

namespace mamba::kernels {
template void launchGemvTyped<__half>(const GemvParams&, Stream);
}  // namespace mamba::kernels
