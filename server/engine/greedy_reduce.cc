#include "server/engine/greedy_reduce.h"

#include <cfloat>
#include <limits>
#ifdef MAMBA_HAVE_CUDA_KERNELS
#include "kernels/torch/cuda_ops.h"
#endif

namespace mamba {

torch::Tensor greedyReduce(const torch::Tensor& logits, int64_t vocab) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  torch::NoGradGuard noGrad;
#ifdef MAMBA_HAVE_CUDA_KERNELS
  // One kernel for the batch instead of ~15 small LibTorch ops (the c = 1 TPOT pays them).
  if (logits.is_cuda() && logits.scalar_type() == torch::kFloat32 && logits.stride(1) == 1) {
    return cuda::greedyPick(logits, vocab);
  }
#endif
  // Sanitize as the host sampler does (exact in float32: FLT_MAX is a float).
  torch::Tensor x = torch::nan_to_num(logits.narrow(1, 0, vocab).to(torch::kFloat32), -kInf,
                                      static_cast<double>(FLT_MAX), -kInf);
  torch::Tensor token = x.argmax(1, /*keepdim=*/true);  // (R, 1): first maximum, lowest id
  torch::Tensor xd = x.to(torch::kFloat64);
  torch::Tensor mx = xd.gather(1, token);               // (R, 1)
  // Host: w_i = expf((float)(raw_i - max)) in float, summed in double. About 15 small
  // kernels in all (launch-bound at small batches, some 50 us on a GPU; memory-bound beyond).
  torch::Tensor w = (xd - mx).to(torch::kFloat32).to(torch::kFloat64).exp().to(torch::kFloat32);
  torch::Tensor logSum = w.sum(1, /*keepdim=*/true, torch::kFloat64).log();
  torch::Tensor lp = torch::rsub(logSum, 0.0);          // (max - max) - logSum: +0 when sum == 1
  lp.masked_fill_(mx == -kInf, -kInf);                  // dead row (its sum is NaN)
  return torch::cat({token.to(torch::kFloat64), lp}, 1);
}

}  // namespace mamba
