// Instantiation of the decode tensor-core product for __half with the kRmsNorm prologue.
#include "kernels/decode_gemm/decode_gemm.cuh"

namespace mamba::kernels {
template void launchDecodeGemmTyped<__half, GemvPrologue::kRmsNorm>(const dgemm::Args&, const DecodeGemmConfig&, Stream);
}  // namespace mamba::kernels
