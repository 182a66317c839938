// Internal to the LibTorch adapters (cuda_ops.cc, decode_gemm_ops.cc): argument checks that
// raise c10::Error with the argument's name, the element type of a tensor, the current stream,
// and launch() turning a launcher's CudaError into a c10::Error.
#pragma once

#include <cstdint>
#include <initializer_list>

#include <ATen/cuda/CUDAContext.h>
#include <torch/torch.h>

#include "kernels/common/kernel_types.h"
#include "kernels/gemv/gemv.h"

namespace mamba::cuda::adapter {

inline kernels::ElemType elemOf(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return kernels::ElemType::kF32;
    case torch::kFloat16: return kernels::ElemType::kF16;
    case torch::kBFloat16: return kernels::ElemType::kBF16;
    default: TORCH_CHECK(false, "unsupported dtype ", t);
  }
}
inline kernels::ElemType elemOf(const torch::Tensor& t) { return elemOf(t.scalar_type()); }

inline void checkCuda(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.defined() && t.is_cuda(), name, " must be a CUDA tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}
inline void checkF32(const torch::Tensor& t, const char* name) {
  checkCuda(t, name);
  TORCH_CHECK(t.scalar_type() == torch::kFloat32, name, " must be float32, got ", t.scalar_type());
}
inline void checkInt32(const torch::Tensor& t, int64_t B, const char* name) {
  checkCuda(t, name);
  TORCH_CHECK(t.scalar_type() == torch::kInt32 && t.dim() == 1 && t.size(0) == B, name, " must be int32 (B)");
}
inline void checkSlots(const torch::Tensor& slots, int64_t B) { checkInt32(slots, B, "slots"); }
inline void checkAligned16(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0, name, " must be 16-byte aligned");
}
inline void checkSameDevice(std::initializer_list<const torch::Tensor*> ts) {
  for (const torch::Tensor* t : ts) {
    if (t->defined()) TORCH_CHECK(t->device() == (*ts.begin())->device(), "tensors on different devices");
  }
}
inline kernels::Stream stream() { return at::cuda::getCurrentCUDAStream().stream(); }

template <typename Fn>
void launch(Fn&& fn) {
  try {
    fn();
  } catch (const kernels::CudaError& e) {
    TORCH_CHECK(false, e.what());
  }
}

// The product fields of GemvParams for a (B, K) -> (B, N) product with weight (N, K) and
// optional bias (N), both already validated; allocates the (B, N) output into *out unless out
// is null.
kernels::GemvParams productParams(int64_t B, int64_t K, const torch::Tensor& weight, const torch::Tensor& bias,
                                  torch::Tensor* out);

// Validates and sets the kRmsNorm prologue (residual (B, K) fp32, normWeight (K) of weight's
// dtype) and the kStoreConvStep epilogue (convState (S, CD, Kc) fp32 stepped in place, slots
// int32 (B), conv weight (CD, Kc) fp32, optional conv bias (CD) fp32, the xBC rows
// [xbcOffset, xbcOffset + CD) of the product); allocates *xbc (B, CD) fp32.
void setRmsNormConvStep(kernels::GemvParams& p, const torch::Tensor& residual, const torch::Tensor& normWeight,
                        double eps, const torch::Tensor& weight, torch::Tensor& convState, const torch::Tensor& slots,
                        int64_t xbcOffset, const torch::Tensor& convWeight, const torch::Tensor& convBias,
                        torch::Tensor* xbc);

// Validates and sets the kGatedRmsNorm prologue: y (B, Di) fp32, z = zxbcdt[:, :Di] (both
// CUDA tensors, checked by the caller), the norm weight (Di) of z's dtype, groups dividing Di.
void setGatedPrologue(kernels::GemvParams& p, const torch::Tensor& y, const torch::Tensor& zxbcdt,
                      const torch::Tensor& normWeight, int64_t groups, double eps, const torch::Tensor& weight);

// Validates residual (B, N) fp32 (checked as such by the caller) against the product of y
// (B, .) and weight (N, .), and sets the kResidualAdd epilogue: residual += product, in place.
void setResidualAdd(kernels::GemvParams& p, torch::Tensor& residual, const torch::Tensor& y,
                    const torch::Tensor& weight);

}  // namespace mamba::cuda::adapter
