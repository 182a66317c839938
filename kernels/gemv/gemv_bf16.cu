// Instantiation of the small-batch GEMV for __nv_bfloat16.
#include "kernels/gemv/gemv.cuh"

namespace mamba::kernels {
template void launchGemvTyped<__nv_bfloat16>(const GemvParams&, Stream);
}  // namespace mamba::kernels
