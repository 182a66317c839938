// Instantiation of the decode tensor-core product for __nv_bfloat16 with the kGatedRmsNorm prologue.
#include "kernels/decode_gemm/decode_gemm.cuh"

namespace mamba::kernels {
template void launchDecodeGemmTyped<__nv_bfloat16, GemvPrologue::kGatedRmsNorm>(const dgemm::Args&, const DecodeGemmConfig&, Stream);
}  // namespace mamba::kernels
