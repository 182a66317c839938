// Instantiation of the small-batch GEMV for float.
#include "kernels/gemv/gemv.cuh"

namespace mamba::kernels {
template void launchGemvTyped<float>(const GemvParams&, Stream);
}  // namespace mamba::kernels
