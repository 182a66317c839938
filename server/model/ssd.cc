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
  const int64_t N = BIn.size(3);
  const int64_t nc = (L + Q - 1) / Q;
  const int64_t pad = nc * Q - L;
  torch::Tensor x = xIn, dt = dtIn, Bm = groupsToHeads(BIn, H), Cm = groupsToHeads(CIn, H);
  if (pad > 0) {
    x = F::pad(x, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    Bm = F::pad(Bm, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    Cm = F::pad(Cm, F::PadFuncOptions({0, 0, 0, 0, 0, pad}));
    dt = F::pad(dt, F::PadFuncOptions({0, 0, 0, pad}));
  }
  // Chunked, head-major views: (B, nc, H, Q, ·).
  torch::Tensor xc = x.view({Bsz, nc, Q, H, P}).permute({0, 1, 3, 2, 4});
  torch::Tensor Bc = Bm.view({Bsz, nc, Q, H, N}).permute({0, 1, 3, 2, 4});
  torch::Tensor Cc = Cm.view({Bsz, nc, Q, H, N}).permute({0, 1, 3, 2, 4});
  torch::Tensor dtc = dt.view({Bsz, nc, Q, H}).permute({0, 1, 3, 2});  // (B, nc, H, Q)

  // 1. Inclusive prefix sum of the log decay inside each chunk.
  torch::Tensor cs = torch::cumsum(dtc * A.view({1, 1, H, 1}), -1);  // (B, nc, H, Q)
  // 2-3. Intra-chunk output: M[i, j] = (C_i . B_j) exp(cs_i - cs_j) dt_j for j <= i.
  torch::Tensor CB = torch::matmul(Cc, Bc.transpose(-1, -2));        // (B, nc, H, Q, Q)
  torch::Tensor seg = cs.unsqueeze(-1) - cs.unsqueeze(-2);            // (B, nc, H, Q, Q)
  torch::Tensor causal = torch::ones({Q, Q}, torch::TensorOptions().dtype(torch::kBool).device(x.device())).tril();
  torch::Tensor decay = torch::exp(seg.masked_fill(causal.logical_not(), -std::numeric_limits<float>::infinity()));
  torch::Tensor M = CB * decay * dtc.unsqueeze(-2);
  torch::Tensor y = torch::matmul(M, xc);                             // (B, nc, H, Q, P)

  // 4. Chunk-local end states (zero state entering the chunk).
  torch::Tensor w = torch::exp(cs.index({Slice(), Slice(), Slice(), Slice(-1, torch::indexing::None)}) - cs) * dtc;
  torch::Tensor sLoc = torch::matmul((xc * w.unsqueeze(-1)).transpose(-1, -2), Bc);  // (B, nc, H, P, N)

  // 5. Sequential state passing across chunks.
  torch::Tensor chunkDecay = torch::exp(cs.select(-1, Q - 1));       // (B, nc, H)
  torch::Tensor s = initialState.defined() ? initialState.to(torch::kFloat32)
                                           : torch::zeros({Bsz, H, P, N}, x.options());
  std::vector<torch::Tensor> sIn;
  sIn.reserve(static_cast<size_t>(nc));
  for (int64_t c = 0; c < nc; ++c) {
    sIn.push_back(s);
    s = chunkDecay.select(1, c).view({Bsz, H, 1, 1}) * s + sLoc.select(1, c);
  }
  torch::Tensor states = torch::stack(sIn, 1);                        // (B, nc, H, P, N)

  // 6. Inter-chunk output: exp(cs_i) * C_i . S_in.
  y = y + torch::matmul(Cc, states.transpose(-1, -2)) * torch::exp(cs).unsqueeze(-1);

  // 7. Back to (B, L, H, P), plus the skip term.
  y = y.permute({0, 1, 3, 2, 4}).reshape({Bsz, nc * Q, H, P}).narrow(1, 0, L);
  y = y + xIn * D.view({1, 1, H, 1});
  return {y.contiguous(), s};
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
