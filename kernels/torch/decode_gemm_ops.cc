#include "kernels/torch/decode_gemm_ops.h"

#include "kernels/decode_gemm/decode_gemm.h"
#include "kernels/torch/adapter_checks.h"

namespace mamba::cuda {
namespace {

using namespace adapter;  // NOLINT: the adapters' shared checks

// Validates weight/bias of a (B, K) -> (B, N) product (groups: the gated norm's) and fills the
// common params; allocates the (B, N) output into *out unless out is null.
kernels::GemvParams gemmParams(int64_t B, int64_t K, const torch::Tensor& weight, const torch::Tensor& bias,
                               int64_t groups, torch::Tensor* out) {
  checkCuda(weight, "weight");
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == K, "weight must be (N, K) with K = ", K);
  checkAligned16(weight, "weight");
  TORCH_CHECK(B >= 1 && B <= kernels::kDecodeGemmMaxBatch, "decode gemm: batch ", B, " not in 1..",
              kernels::kDecodeGemmMaxBatch);
  {
    const kernels::DecodeGemmConfig cfg =
        kernels::decodeGemmConfig(static_cast<int>(B), static_cast<int>(K), static_cast<int>(weight.size(0)),
                                  elemOf(weight.scalar_type()), static_cast<int>(groups));
    TORCH_CHECK(cfg.clusterSize > 0, "decode gemm: unsupported batch ", B, ", K ", K, ", N ", weight.size(0), " (",
                weight.scalar_type(), "): ", cfg.why);
  }
  if (bias.defined()) {
    checkCuda(bias, "bias");
    TORCH_CHECK(bias.numel() == weight.size(0) && bias.scalar_type() == weight.scalar_type(),
                "bias must be (N) of weight's dtype");
  }
  checkSameDevice({&weight, &bias});
  return productParams(B, K, weight, bias, out);
}

// The gated-norm prologue with the tensor-core kernel's extra requirements (y 16-byte aligned,
// zxbcdt 2-D) on top of the shared checks.
void setGemmGatedPrologue(kernels::GemvParams& p, const torch::Tensor& y, const torch::Tensor& zxbcdt,
                          const torch::Tensor& normWeight, int64_t groups, double eps, const torch::Tensor& weight) {
  checkCuda(zxbcdt, "zxbcdt");
  checkCuda(normWeight, "gated norm weight");
  checkAligned16(y, "y");
  TORCH_CHECK(zxbcdt.dim() == 2, "zxbcdt must be (B, columns)");
  setGatedPrologue(p, y, zxbcdt, normWeight, groups, eps, weight);
}

}  // namespace

bool decodeGemmSupports(int64_t batch, int64_t K, int64_t N, torch::ScalarType dtype, int64_t groups) {
  if (dtype != torch::kBFloat16 && dtype != torch::kFloat16) return false;
  if (batch < 1 || batch > kernels::kDecodeGemmMaxBatch || K < 1 || K > (1 << 20) || N < 1 || N > (1 << 24) ||
      groups < 1) {
    return false;
  }
  return kernels::decodeGemmConfig(static_cast<int>(batch), static_cast<int>(K), static_cast<int>(N), elemOf(dtype),
                                   static_cast<int>(groups))
             .clusterSize > 0;
}

torch::Tensor decodeGemm(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  TORCH_CHECK(x.defined() && x.is_cuda() && x.dim() == 2 && x.stride(1) == 1,
              "x must be a CUDA (B, K) tensor with unit column stride");
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "x must have weight's dtype");
  torch::Tensor out;
  kernels::GemvParams p = gemmParams(x.size(0), x.size(1), weight, bias, 1, &out);
  checkSameDevice({&weight, &x});
  p.x = x.data_ptr();
  p.xStride = x.stride(0);
  launch([&] { kernels::launchDecodeGemm(p, stream()); });
  return out;
}

torch::Tensor gatedRmsNormGemm(const torch::Tensor& y, const torch::Tensor& zxbcdt, const torch::Tensor& normWeight,
                               int64_t groups, double eps, const torch::Tensor& weight, const torch::Tensor& bias) {
  checkF32(y, "y");
  TORCH_CHECK(y.dim() == 2, "y must be (B, Di)");
  torch::Tensor out;
  kernels::GemvParams p = gemmParams(y.size(0), y.size(1), weight, bias, groups, &out);
  setGemmGatedPrologue(p, y, zxbcdt, normWeight, groups, eps, weight);
  launch([&] { kernels::launchDecodeGemm(p, stream()); });
  return out;
}

void gatedRmsNormGemmResidual(torch::Tensor& residual, const torch::Tensor& y, const torch::Tensor& zxbcdt,
                              const torch::Tensor& normWeight, int64_t groups, double eps, const torch::Tensor& weight,
                              const torch::Tensor& bias) {
  checkF32(y, "y");
  TORCH_CHECK(y.dim() == 2, "y must be (B, Di)");
  checkF32(residual, "residual");
  kernels::GemvParams p = gemmParams(y.size(0), y.size(1), weight, bias, groups, nullptr);
  setGemmGatedPrologue(p, y, zxbcdt, normWeight, groups, eps, weight);
  setResidualAdd(p, residual, y, weight);
  launch([&] { kernels::launchDecodeGemm(p, stream()); });
}

RmsNormGemvConvResult rmsNormGemmConvStep(const torch::Tensor& residual, const torch::Tensor& normWeight, double eps,
                                          const torch::Tensor& weight, const torch::Tensor& bias,
                                          torch::Tensor& convState, const torch::Tensor& slots, int64_t xbcOffset,
                                          const torch::Tensor& convWeight, const torch::Tensor& convBias) {
  checkF32(residual, "residual");
  checkAligned16(residual, "residual");
  TORCH_CHECK(residual.dim() == 2, "residual must be (B, K)");
  RmsNormGemvConvResult r;
  kernels::GemvParams p = gemmParams(residual.size(0), residual.size(1), weight, bias, 1, &r.zxbcdt);
  setRmsNormConvStep(p, residual, normWeight, eps, weight, convState, slots, xbcOffset, convWeight, convBias, &r.xbc);
  launch([&] { kernels::launchDecodeGemm(p, stream()); });
  return r;
}

}  // namespace mamba::cuda
