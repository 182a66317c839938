#include "server/model/ssd.h"

namespace mamba {
namespace {

namespace F = torch::nn::functional;
using torch::indexing::Slice;

// (B, L, G, N) -> (B, L, H, N) by repeating each group for its H/G consecutive heads.
torch::Tensor groupsToHeads(const torch::Tensor& t, int64_t H) {
  const int64_t G = t.size(2);
  if (G == H) return t;
  return t.repeat_interleave(H / G, /*dim=*/2);
}

}  // namespace

SsdResult ssdChunkScan(const torch::Tensor& xIn, const torch::Tensor& dtIn, const torch::Tensor& A,
                       const torch::Tensor& BIn, const torch::Tensor& CIn, const torch::Tensor& D,
                       int64_t Q, const torch::Tensor& initialState) {
  const int64_t Bsz = xIn.size(0), L = xIn.size(1), H = xIn.size(2), P = xIn.size(3);
  const int64_t G = BIn.size(2), N = BIn.size(3), hpg = H / G;
  const int64_t nc = (L + Q - 1) / Q;
  const int64_t pad = nc * Q - L;
  torch::Tensor x = xIn, dt = dtIn, Bm = BIn, Cm = CIn;
  if (pad > 0) {
    x = F::pad(x, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    Bm = F::pad(Bm, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    Cm = F::pad(Cm, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    dt = F::pad(dt, F::PadFuncOptions({0, 0, 0, pad}));
  }
  // Chunked views. B and C stay per group (never repeated per head): the GEMMs that involve
  // them batch over groups and put the group's heads side by side in the other operand.
  torch::Tensor xc = x.view({Bsz, nc, Q, G, hpg, P}).permute({0, 1, 3, 4, 2, 5});  // (B, nc, G, hpg, Q, P)
  torch::Tensor Bc = Bm.view({Bsz, nc, Q, G, N}).permute({0, 1, 3, 2, 4});          // (B, nc, G, Q, N)
  torch::Tensor Cc = Cm.view({Bsz, nc, Q, G, N}).permute({0, 1, 3, 2, 4});          // (B, nc, G, Q, N)
  torch::Tensor dtc = dt.view({Bsz, nc, Q, G, hpg}).permute({0, 1, 3, 4, 2});       // (B, nc, G, hpg, Q)

  // 1. Inclusive prefix sum of the log decay inside each chunk.
  torch::Tensor cs = torch::cumsum(dtc * A.view({1, 1, G, hpg, 1}), -1);             // (B, nc, G, hpg, Q)
  // 2-3. Intra-chunk output: M[i, j] = (C_i . B_j) exp(cs_i - cs_j) dt_j for j <= i.
  torch::Tensor CB = torch::matmul(Cc, Bc.transpose(-1, -2)).unsqueeze(3);          // (B, nc, G, 1, Q, Q)
  torch::Tensor seg = cs.unsqueeze(-1) - cs.unsqueeze(-2);                           // (B, nc, G, hpg, Q, Q)
  torch::Tensor causal = torch::ones({Q, Q}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).tril();
  torch::Tensor M = torch::exp(seg.masked_fill_(causal.logical_not(), -std::numeric_limits<float>::infinity()));
  M.mul_(CB).mul_(dtc.unsqueeze(-2));
  torch::Tensor y = torch::matmul(M, xc);                                            // (B, nc, G, hpg, Q, P)
  M = torch::Tensor();

  // 4. Chunk-local end states (zero state entering the chunk): per group, the heads' weighted
  // inputs stacked as rows, times B.
  torch::Tensor w = torch::exp(cs.narrow(-1, Q - 1, 1) - cs) * dtc;                 // (B, nc, G, hpg, Q)
  torch::Tensor xw = (xc * w.unsqueeze(-1)).transpose(-1, -2).reshape({Bsz, nc, G, hpg * P, Q});
  torch::Tensor sLoc = torch::matmul(xw, Bc).view({Bsz, nc, G, hpg, P, N});

  // 5. Sequential state passing across chunks.
  torch::Tensor chunkDecay = torch::exp(cs.select(-1, Q - 1));                       // (B, nc, G, hpg)
  torch::Tensor s = initialState.defined() ? initialState.to(torch::kFloat32).view({Bsz, G, hpg, P, N})
                                           : torch::zeros({Bsz, G, hpg, P, N}, x.options());
  std::vector<torch::Tensor> sIn;
  sIn.reserve(static_cast<size_t>(nc));
  for (int64_t c = 0; c < nc; ++c) {
    sIn.push_back(s);
    s = chunkDecay.select(1, c).view({Bsz, G, hpg, 1, 1}) * s + sLoc.select(1, c);
  }
  torch::Tensor states = torch::stack(sIn, 1).view({Bsz, nc, G, hpg * P, N});      // (B, nc, G, hpg*P, N)

  // 6. Inter-chunk output: exp(cs_i) * C_i . S_in, all heads of a group in one GEMM.
  torch::Tensor yOff = torch::matmul(Cc, states.transpose(-1, -2))                   // (B, nc, G, Q, hpg*P)
                           .view({Bsz, nc, G, Q, hpg, P}).permute({0, 1, 2, 4, 3, 5});
  y.add_(yOff * torch::exp(cs).unsqueeze(-1));

  // 7. Back to (B, L, H, P), plus the skip term.
  y = y.permute({0, 1, 4, 2, 3, 5}).reshape({Bsz, nc * Q, H, P}).narrow(1, 0, L);
  y = y + xIn * D.view({1, 1, H, 1});
  return {y.contiguous(), s.view({Bsz, H, P, N})};
}

SsdResult ssdReferenceScan(const torch::Tensor& x, const torch::Tensor& dt, const torch::Tensor& A,
                           const torch::Tensor& BIn, const torch::Tensor& CIn, const torch::Tensor& D,
                           const torch::Tensor& initialState) {
  const int64_t Bsz = x.size(0), L = x.size(1), H = x.size(2), P = x.size(3);
  torch::Tensor Bm = groupsToHeads(BIn, H), Cm = groupsToHeads(CIn, H);
  const int64_t N = Bm.size(3);
  torch::Tensor s = initialState.defined() ? initialState.to(torch::kFloat32).clone()
                                           : torch::zeros({Bsz, H, P, N}, x.options());
  std::vector<torch::Tensor> ys;
  for (int64_t t = 0; t < L; ++t) {
    torch::Tensor dtt = dt.select(1, t);                                // (B, H)
    torch::Tensor a = torch::exp(dtt * A.view({1, H}));
    torch::Tensor xt = x.select(1, t);                                  // (B, H, P)
    s = s * a.view({Bsz, H, 1, 1}) + (dtt.view({Bsz, H, 1, 1}) * xt.unsqueeze(-1)) * Bm.select(1, t).unsqueeze(2);
    ys.push_back((s * Cm.select(1, t).unsqueeze(2)).sum(-1) + xt * D.view({1, H, 1}));
  }
  return {torch::stack(ys, 1), s};
}

torch::Tensor gatedRmsNorm(const torch::Tensor& y, const torch::Tensor& z, const torch::Tensor& weight,
                           int64_t groups, double eps, torch::ScalarType outDtype) {
  torch::Tensor v = y.to(torch::kFloat32) * torch::silu(z.to(torch::kFloat32));
  auto shape = v.sizes().vec();
  const int64_t di = shape.back();
  std::vector<int64_t> grouped(shape.begin(), shape.end() - 1);
  grouped.push_back(groups);
  grouped.push_back(di / groups);
  torch::Tensor g = v.view(grouped);
  g = g * torch::rsqrt(g.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (g.view(shape) * weight.to(torch::kFloat32)).to(outDtype);
}

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, torch::ScalarType outDtype) {
  torch::Tensor v = x.to(torch::kFloat32);
  v = v * torch::rsqrt(v.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return (v * weight.to(torch::kFloat32)).to(outDtype);
}

}  // namespace mamba
