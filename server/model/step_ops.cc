#include "server/model/step_ops.h"

#include <ATen/Parallel.h>
#include <cmath>

namespace mamba {
namespace {

torch::Tensor slotTensor(std::span<const int32_t> slots, torch::Device device) {
  std::vector<int64_t> v(slots.begin(), slots.end());
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kLong)).to(device);
}

bool cpuFp32(const torch::Tensor& state) {
  return state.device().is_cpu() && state.scalar_type() == torch::kFloat32 && state.is_contiguous();
}

}  // namespace

torch::Tensor convStepGeneric(torch::Tensor& convState, std::span<const int32_t> slots, const torch::Tensor& xBC,
                              const torch::Tensor& weight, const torch::Tensor& bias) {
  torch::Tensor idx = slotTensor(slots, convState.device());
  torch::Tensor win = convState.index_select(0, idx);                    // (B, CD, K)
  win = torch::cat({win.narrow(2, 1, win.size(2) - 1), xBC.to(win.dtype()).unsqueeze(2)}, 2);
  convState.index_copy_(0, idx, win);
  torch::Tensor out = (win.to(torch::kFloat32) * weight.unsqueeze(0)).sum(-1);
  if (bias.defined()) out = out + bias;
  return torch::silu(out);
}

torch::Tensor ssmStepGeneric(torch::Tensor& ssmState, std::span<const int32_t> slots, const torch::Tensor& x,
                             const torch::Tensor& dt, const torch::Tensor& A, const torch::Tensor& Bm,
                             const torch::Tensor& Cm, const torch::Tensor& D) {
  const int64_t B = x.size(0), H = x.size(1), G = Bm.size(1);
  torch::Tensor idx = slotTensor(slots, ssmState.device());
  torch::Tensor s = ssmState.index_select(0, idx).to(torch::kFloat32);  // (B, H, P, N)
  torch::Tensor Bh = Bm.repeat_interleave(H / G, 1), Ch = Cm.repeat_interleave(H / G, 1);  // (B, H, N)
  torch::Tensor dA = torch::exp(dt * A.view({1, H})).view({B, H, 1, 1});
  s = s * dA + (dt.view({B, H, 1, 1}) * x.unsqueeze(-1)) * Bh.unsqueeze(2);
  ssmState.index_copy_(0, idx, s.to(ssmState.dtype()));
  return (s * Ch.unsqueeze(2)).sum(-1) + x * D.view({1, H, 1});
}

torch::Tensor convStepInPlace(torch::Tensor& convState, std::span<const int32_t> slots, const torch::Tensor& xBCIn,
                              const torch::Tensor& weightIn, const torch::Tensor& biasIn) {
  if (!cpuFp32(convState)) return convStepGeneric(convState, slots, xBCIn, weightIn, biasIn);
  const int64_t B = xBCIn.size(0), CD = convState.size(1), K = convState.size(2);
  torch::Tensor xBC = xBCIn.to(torch::kFloat32).contiguous();
  torch::Tensor weight = weightIn.contiguous();
  torch::Tensor bias = biasIn.defined() ? biasIn.contiguous() : torch::Tensor();
  torch::Tensor out = torch::empty({B, CD}, xBC.options());
  float* st = convState.data_ptr<float>();
  const float* in = xBC.data_ptr<float>();
  const float* w = weight.data_ptr<float>();
  const float* bi = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* o = out.data_ptr<float>();
  at::parallel_for(0, B * CD, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / CD, c = i % CD;
      float* win = st + (static_cast<int64_t>(slots[static_cast<size_t>(b)]) * CD + c) * K;
      for (int64_t k = 0; k + 1 < K; ++k) win[k] = win[k + 1];
      win[K - 1] = in[i];
      float acc = bi ? bi[c] : 0.f;
      for (int64_t k = 0; k < K; ++k) acc += win[k] * w[c * K + k];
      o[i] = acc / (1.f + std::exp(-acc));
    }
  });
  return out;
}

torch::Tensor ssmStepInPlace(torch::Tensor& ssmState, std::span<const int32_t> slots, const torch::Tensor& xIn,
                             const torch::Tensor& dtIn, const torch::Tensor& AIn, const torch::Tensor& BIn,
                             const torch::Tensor& CIn, const torch::Tensor& DIn) {
  if (!cpuFp32(ssmState)) return ssmStepGeneric(ssmState, slots, xIn, dtIn, AIn, BIn, CIn, DIn);
  const int64_t B = xIn.size(0), H = ssmState.size(1), P = ssmState.size(2), N = ssmState.size(3);
  const int64_t G = BIn.size(1), headsPerGroup = H / G;
  torch::Tensor x = xIn.contiguous(), dt = dtIn.contiguous(), A = AIn.contiguous();
  torch::Tensor Bm = BIn.contiguous(), Cm = CIn.contiguous(), D = DIn.contiguous();
  torch::Tensor y = torch::empty({B, H, P}, x.options());
  float* st = ssmState.data_ptr<float>();
  const float *xp = x.data_ptr<float>(), *dtp = dt.data_ptr<float>(), *ap = A.data_ptr<float>();
  const float *bp = Bm.data_ptr<float>(), *cp = Cm.data_ptr<float>(), *dp = D.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / H, h = i % H, g = h / headsPerGroup;
      const float d = dtp[i];
      const float dA = std::exp(d * ap[h]);
      const float* bv = bp + (b * G + g) * N;
      const float* cv = cp + (b * G + g) * N;
      float* s = st + (static_cast<int64_t>(slots[static_cast<size_t>(b)]) * H + h) * P * N;
      for (int64_t p = 0; p < P; ++p) {
        const float xv = xp[i * P + p];
        const float dx = d * xv;
        float* row = s + p * N;
        float acc = 0.f;
        for (int64_t n = 0; n < N; ++n) {
          row[n] = row[n] * dA + dx * bv[n];
          acc += row[n] * cv[n];
        }
        yp[i * P + p] = acc + dp[h] * xv;
      }
    }
  });
  return y;
}

}  // namespace mamba
