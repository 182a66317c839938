// cuda::convPrefill (kernels/conv_prefill) against the LibTorch prefill conv of
// Mamba2Model::mixerPrefill, written per sequence: conv over [history (K-1 raw inputs) |
// inputs], the new window gathered at the sequence's last token, and the masked dt. Label gpu.
// Fresh random inputs, N in {16, 20, 64, 128}, G in {1, 2}, K in {2, 4, 6}, plain and padded
// (state-pitch) output layouts, the vector and the per-channel kernel (bit for bit), ragged lengths
// (1, 7, 129, 300, 2) with continue flags (including windows that mix history and inputs),
// fp32/fp16/bf16 inputs, fp32 or model-dtype output; outputs poisoned with NaN before each run.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/torch/cuda_ops.h"
#include "tests/kernels/kernel_test_util.h"

namespace mamba {
namespace {

namespace F = torch::nn::functional;
using kernel_test::cudaInts;
using kernel_test::kCuda;
using kernel_test::poison;
using kernel_test::relErr;

double tol(torch::ScalarType t) { return kernel_test::roundingTol(t); }

struct Batch {
  std::vector<int32_t> slots, cont, lengths;
  torch::Tensor slotsT() const { return cudaInts(slots); }
  torch::Tensor contT() const { return cudaInts(cont); }
  torch::Tensor lengthsT() const { return cudaInts(lengths); }
};

struct ConvRef {
  torch::Tensor out;    // (B, L, CD) fp32
  torch::Tensor dt;     // (B, L, H) fp32
  torch::Tensor state;  // (S, CD, K) fp32
};

// The LibTorch path, one sequence at a time, in fp32 on the CPU.
ConvRef reference(const torch::Tensor& state, const Batch& bt, const torch::Tensor& zx, int64_t Di, int64_t CD,
                  const torch::Tensor& w, const torch::Tensor& bias, int64_t H, const torch::Tensor& dtBias,
                  double dtMin, double dtMax) {
  const int64_t B = zx.size(0), L = zx.size(1), K = state.size(2);
  ConvRef r{torch::empty({B, L, CD}), torch::zeros({B, L, H}), state.clone()};
  for (int64_t b = 0; b < B; ++b) {
    const int32_t slot = bt.slots[static_cast<size_t>(b)];
    const int64_t len = bt.lengths[static_cast<size_t>(b)];
    torch::Tensor hist = slot >= 0 && bt.cont[static_cast<size_t>(b)] != 0
                             ? state[slot].narrow(1, 1, K - 1).t()
                             : torch::zeros({K - 1, CD});
    torch::Tensor xpad = torch::cat({hist, zx[b].narrow(1, Di, CD).to(torch::kFloat32)}, 0);  // (K-1+L, CD)
    torch::Tensor conv = xpad.narrow(0, 0, L) * w.select(1, 0);
    for (int64_t k = 1; k < K; ++k) conv = conv + xpad.narrow(0, k, L) * w.select(1, k);
    if (bias.defined()) conv = conv + bias;
    r.out[b].copy_(torch::silu(conv));
    if (slot >= 0) r.state[slot].copy_(xpad.narrow(0, len - 1, K).t());
    if (H > 0) {
      torch::Tensor dt = F::softplus(zx[b].narrow(1, Di + CD, H).to(torch::kFloat32) + dtBias).clamp(dtMin, dtMax);
      r.dt[b].narrow(0, 0, len).copy_(dt.narrow(0, 0, len));
    }
  }
  return r;
}

class ConvPrefillTest : public kernel_test::CudaTest {};

TEST_F(ConvPrefillTest, MatchesReferenceWithHistoryAndRaggedLengths) {
  struct Shape { int64_t N, G, K; };
  const Shape shapes[] = {{16, 1, 4}, {20, 2, 4}, {64, 1, 4}, {128, 2, 4}, {20, 1, 2}, {16, 1, 6}};
  const int64_t B = 5, S = 9, H = 4, Di = 64;
  // L = 300 runs the short-run grid (few blocks), L = 4000 the 32-step runs.
  for (int64_t L : {300, 4000}) {
    // len 1 and 2 with history: the new window mixes old history and new inputs.
    const Batch bt{{5, 0, 3, 7, 8}, {1, 0, 1, 0, 1}, {1, 7, 129, static_cast<int32_t>(L), 2}};
    for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
      for (const Shape& sh : shapes) {
        for (bool modelDtypeOut : {false, true}) {
          torch::manual_seed(sh.N * 31 + sh.K + (modelDtypeOut ? 1 : 0));
          const int64_t CD = Di + 2 * sh.G * sh.N, K = sh.K;
          // Rows of whole 16-byte vectors (the padded in_proj's) take the vector kernel where the
          // grid has >= 4 blocks per SM and K <= 4 (L = 4000: 625 blocks at B = 5, every shape
          // but K = 6, both output types); the rest (3 extra columns, or L = 300) the per-channel one.
          const bool alignedRows = L == 4000 || modelDtypeOut;
          const int64_t DIP0 = 2 * Di + 2 * sh.G * sh.N + H, DIP = alignedRows ? (DIP0 + 7) / 8 * 8 : DIP0 + 3;
          // Clamped dt for N = 20, the (0, inf) limit otherwise.
          const double dtMin = sh.N == 20 ? 0.05 : 0.0, dtMax = sh.N == 20 ? 0.5 : INFINITY;
          torch::Tensor state = torch::randn({S, CD, K});
          torch::Tensor zx = torch::randn({B, L, DIP}).to(dtype);
          torch::Tensor w = torch::randn({CD, K}) * 0.5, bias = torch::randn({CD}), dtBias = torch::rand({H}) - 2;
          ConvRef ref = reference(state, bt, zx, Di, CD, w, bias, H, dtBias, dtMin, dtMax);
          torch::Tensor gState = state.to(kCuda);
          const auto outDtype = modelDtypeOut ? dtype : torch::kFloat32;
          poison({B, L, CD}, outDtype);
          poison({B, L, H}, torch::kFloat32);
          cuda::ConvPrefillResult got =
              cuda::convPrefill(gState, bt.slotsT(), bt.contT(), bt.lengthsT(), zx.to(kCuda), Di, w.to(kCuda),
                                bias.to(kCuda), Di + CD, dtBias.to(kCuda), dtMin, dtMax, outDtype);
          const auto what = ::testing::Message() << "L=" << L << " N=" << sh.N << " G=" << sh.G << " K=" << K << " " << dtype
                                                  << " out=" << outDtype;
          ASSERT_EQ(got.xbc.scalar_type(), outDtype);
          EXPECT_LE(relErr(got.xbc, ref.out), modelDtypeOut ? tol(dtype) : 1e-5) << what;
          EXPECT_LE(relErr(got.dt, ref.dt), 1e-5) << what;
          // Windows are copies of inputs and history: exact; other slots untouched.
          EXPECT_TRUE(torch::equal(gState.cpu(), ref.state)) << what;
          if (alignedRows) {  // the per-channel kernel on the same data: bit for bit
            torch::Tensor sState = state.to(kCuda);
            cuda::ConvPrefillResult scalar =
                cuda::convPrefill(sState, bt.slotsT(), bt.contT(), bt.lengthsT(), zx.to(kCuda), Di, w.to(kCuda),
                                  bias.to(kCuda), Di + CD, dtBias.to(kCuda), dtMin, dtMax, outDtype, 0, 0, 0, false);
            EXPECT_TRUE(torch::equal(scalar.xbc.cpu(), got.xbc.cpu())) << what << " vector vs per-channel";
            EXPECT_TRUE(torch::equal(scalar.dt.cpu(), got.dt.cpu())) << what << " vector vs per-channel dt";
            EXPECT_TRUE(torch::equal(sState.cpu(), gState.cpu())) << what << " vector vs per-channel windows";
          }
          // The SSD's padded layout (each B/C block at a pitch of the next multiple of 8, zeros
          // after it): the same values moved, padding exactly 0, windows the same.
          const int64_t Np = (sh.N + 7) / 8 * 8 + 8;
          torch::Tensor pState = state.to(kCuda);
          cuda::ConvPrefillResult padded =
              cuda::convPrefill(pState, bt.slotsT(), bt.contT(), bt.lengthsT(), zx.to(kCuda), Di, w.to(kCuda),
                                bias.to(kCuda), Di + CD, dtBias.to(kCuda), dtMin, dtMax, outDtype, Di, sh.N, Np);
          torch::Tensor pz = padded.xbc.cpu();
          ASSERT_EQ(pz.size(2), Di + 2 * sh.G * Np) << what;
          torch::Tensor gx = got.xbc.cpu();
          EXPECT_TRUE(torch::equal(pz.narrow(2, 0, Di), gx.narrow(2, 0, Di))) << what << " padded x";
          for (int64_t blk = 0; blk < 2 * sh.G; ++blk) {
            EXPECT_TRUE(torch::equal(pz.narrow(2, Di + blk * Np, sh.N), gx.narrow(2, Di + blk * sh.N, sh.N)))
                << what << " padded block " << blk;
            EXPECT_TRUE(pz.narrow(2, Di + blk * Np + sh.N, Np - sh.N).eq(0).all().item<bool>()) << what << " padding";
          }
          EXPECT_TRUE(torch::equal(pState.cpu(), ref.state)) << what << " padded windows";
        }
      }
    }
  }
}

TEST_F(ConvPrefillTest, PaddingSlotNoBiasNoDt) {
  // slot -1: no history even with cont set, window not written; no bias; dt skipped.
  torch::manual_seed(3);
  const int64_t Di = 32, CD = Di + 2 * 12, K = 4, L = 9, DIP = 2 * Di + 2 * 12 + 2, S = 3;
  const Batch bt{{-1, 2}, {1, 1}, {9, 3}};
  torch::Tensor state = torch::randn({S, CD, K});
  torch::Tensor zx = torch::randn({2, L, DIP});
  torch::Tensor w = torch::randn({CD, K});
  ConvRef ref = reference(state, bt, zx, Di, CD, w, {}, 0, {}, 0.0, INFINITY);
  torch::Tensor gState = state.to(kCuda);
  poison({2, L, CD}, torch::kFloat32);
  cuda::ConvPrefillResult got = cuda::convPrefill(gState, bt.slotsT(), bt.contT(), bt.lengthsT(), zx.to(kCuda), Di,
                                                  w.to(kCuda), {}, 0, {}, 0.0, INFINITY, torch::kFloat32);
  EXPECT_FALSE(got.dt.defined());
  EXPECT_LE(relErr(got.xbc, ref.out), 1e-5);
  EXPECT_TRUE(torch::equal(gState.cpu(), ref.state));
}

TEST_F(ConvPrefillTest, AdapterRejectsBadInputs) {
  auto opt = torch::TensorOptions().device(kCuda);
  torch::Tensor state = torch::zeros({2, 8, 4}, opt), w = torch::zeros({8, 4}, opt);
  torch::Tensor zx = torch::zeros({1, 5, 20}, opt);
  torch::Tensor one = torch::ones({1}, opt.dtype(torch::kInt));
  EXPECT_THROW(cuda::convPrefill(state, one.to(torch::kLong), one, one, zx, 0, w, {}, 0, {}, 0, 1, torch::kFloat32),
               c10::Error);  // slot dtype
  EXPECT_THROW(cuda::convPrefill(state, one, one, one, zx, 15, w, {}, 0, {}, 0, 1, torch::kFloat32),
               c10::Error);  // xBC columns
  EXPECT_THROW(cuda::convPrefill(state, one, one, one, zx, 0, w, {}, 0, {}, 0, 1, torch::kBFloat16),
               c10::Error);  // output dtype
  EXPECT_THROW(cuda::convPrefill(state, one, one, one, zx.view({5, 20}), 0, w, {}, 0, {}, 0, 1, torch::kFloat32),
               c10::Error);  // rank
}

}  // namespace
}  // namespace mamba
