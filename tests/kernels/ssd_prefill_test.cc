// cuda::ssdPrefill (kernels/ssd_prefill) against the LibTorch chunked scan (server/model/ssd.h)
// run per sequence over its real tokens only. Label gpu. Fresh random inputs, N in
// {7, 16, 20, 32, 64, 128}, G in {1, 2}, P in {16, 32, 64, 80}, Q in {16, 30, 64, 100, 128, 256}
// (16-byte staged and element-by-element operands both covered, and unaligned N again at a
// zero-padded pitch), ragged
// lengths (1, 7, 129, 300) with continue flags, fp32/fp16/bf16 operands, fp32 and bf16 pool
// states; y poisoned with NaN before each run; final states in the pool checked, other slots
// untouched, y rows past each length exactly 0. Compacted N (12, 20, 38, 64, 72, 89, 115, 128)
// at P = 64 also bit for bit against the same data zero-padded to a full 64-state tile. Short
// calls: the single-tile kernel bit for bit against the three-launch path. The sequential-chunk
// kernel (forced) against the same reference and the chunked kernels, and taken by default at
// the 130m shape's 8-sequence prefill.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/torch/cuda_ops.h"
#include "server/model/ssd.h"
#include "tests/kernels/kernel_test_util.h"

namespace mamba {
namespace {

namespace F = torch::nn::functional;
using kernel_test::cudaInts;
using kernel_test::kCuda;
using kernel_test::poison;
using kernel_test::relErr;

// Operand rounding of the tensor-core products (fp32 runs as 3xTF32).
double tol(torch::ScalarType t) { return t == torch::kFloat32 ? 1e-4 : t == torch::kFloat16 ? 5e-3 : 3e-2; }

struct Case {
  int64_t N, G, P, Q;
  torch::ScalarType stateDtype;
};

class SsdPrefillTest : public kernel_test::CudaTest {};

// dt (B, L, H) fp32 on the CPU: softplus of N(-2, 0.5) draws, 0 past each sequence's length.
torch::Tensor raggedDt(int64_t B, int64_t L, int64_t H, const std::vector<int32_t>& lengths) {
  torch::Tensor dt = F::softplus(torch::randn({B, L, H}) * 0.5 - 2.0);
  for (int64_t b = 0; b < B; ++b) dt[b].narrow(0, lengths[b], L - lengths[b]).zero_();
  return dt;
}

// A sequential-chunk test case: state size N at pitch Np, groups, head size, operand and pool types.
struct SeqShape {
  int64_t N, Np, G, P;
  torch::ScalarType dtype, stateDtype;
};

// xbc (B, L, Di + 2*G*N) in the layout at state pitch Np (ssd_prefill.h): each group's B and C
// block moved to Np columns, zeros after its N.
torch::Tensor padStateBlocks(const torch::Tensor& xbc, int64_t Di, int64_t G, int64_t N, int64_t Np) {
  torch::Tensor out = torch::zeros({xbc.size(0), xbc.size(1), Di + 2 * G * Np}, xbc.options());
  out.narrow(2, 0, Di).copy_(xbc.narrow(2, 0, Di));
  for (int64_t blk = 0; blk < 2 * G; ++blk) out.narrow(2, Di + blk * Np, N).copy_(xbc.narrow(2, Di + blk * N, N));
  return out;
}

// The reference result of launchSsdPrefill: per sequence, ssdChunkScan (Q = 32) over its first
// lengths[b] steps from its slot's state (cont[b]) or zeros; y (B, L, H*P) zero past each
// length, and the state pool (S, H, P, N) fp32 with each used slot's final state (a fresh
// sequence of length 0 zeroes its slot).
std::pair<torch::Tensor, torch::Tensor> reference(const torch::Tensor& xbc, const torch::Tensor& dt,
                                                  const torch::Tensor& A, const torch::Tensor& D,
                                                  const torch::Tensor& state, const std::vector<int32_t>& lengths,
                                                  const std::vector<int32_t>& slots, const std::vector<int32_t>& cont,
                                                  int64_t H, int64_t P, int64_t G, int64_t N) {
  const int64_t B = xbc.size(0), L = xbc.size(1), Di = H * P;
  torch::Tensor yRef = torch::zeros({B, L, Di}), stateRef = state.clone(), xf = xbc.to(torch::kFloat32);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = lengths[b];
    if (len == 0) {
      if (!cont[b]) stateRef[slots[b]].zero_();
      continue;
    }
    torch::Tensor row = xf[b].narrow(0, 0, len);
    torch::Tensor init = cont[b] ? state[slots[b]].unsqueeze(0) : torch::zeros({1, H, P, N});
    SsdResult r = ssdChunkScan(row.narrow(1, 0, Di).reshape({1, len, H, P}), dt[b].narrow(0, 0, len).unsqueeze(0),
                               A, row.narrow(1, Di, G * N).reshape({1, len, G, N}),
                               row.narrow(1, Di + G * N, G * N).reshape({1, len, G, N}), D, 32, init);
    yRef[b].narrow(0, 0, len).copy_(r.y.reshape({len, Di}));
    stateRef[slots[b]].copy_(r.finalState[0]);
  }
  return {yRef, stateRef};
}

TEST_F(SsdPrefillTest, MatchesChunkScanPerSequence) {
  const Case cases[] = {{16, 1, 16, 64, torch::kFloat32},   {20, 2, 32, 128, torch::kFloat32},
                        {64, 1, 64, 256, torch::kFloat32},  {128, 2, 80, 100, torch::kFloat32},
                        {128, 1, 64, 256, torch::kBFloat16}, {7, 1, 16, 16, torch::kFloat32},
                        {32, 1, 64, 30, torch::kFloat32}};
  const std::vector<int32_t> slots = {6, 1, 4, 2}, cont = {0, 1, 1, 0};
  const int64_t B = 4, H = 4, S = 8;
  // Several chunks (L = 300), and one chunk (L = Q: the prepare kernel does the state pass),
  // where a fresh sequence of length 0 must leave a zero state.
  for (bool oneChunk : {false, true}) {
    for (auto dtype : {torch::kFloat32, torch::kFloat16, torch::kBFloat16}) {
      for (const Case& c : cases) {
        const int64_t L = oneChunk ? c.Q : 300;
        const std::vector<int32_t> lengths =
            oneChunk ? std::vector<int32_t>{0, 1, static_cast<int32_t>(c.Q / 2), static_cast<int32_t>(c.Q)}
                     : std::vector<int32_t>{1, 7, 129, 300};
        torch::manual_seed(c.N * 13 + c.P + c.Q);
        const int64_t N = c.N, G = c.G, P = c.P, Di = H * P, CD = Di + 2 * G * N;
        // The kernel's inputs: x/B/C in the operand dtype, dt masked past each length.
        torch::Tensor xbc = torch::randn({B, L, CD}).to(dtype);
        torch::Tensor dt = raggedDt(B, L, H, lengths);
        torch::Tensor A = -torch::exp(torch::rand({H}) * 3 - 2), D = torch::randn({H});
        // The pool holds values of its dtype; the reference starts from the same values in fp32.
        torch::Tensor state = torch::randn({S, H, P, N}).to(c.stateDtype).to(torch::kFloat32);

        const auto [yRef, stateRef] = reference(xbc, dt, A, D, state, lengths, slots, cont, H, P, G, N);

        torch::Tensor gState = state.to(kCuda, c.stateDtype);
        poison({1 << 24}, torch::kFloat32);  // the workspace (best effort: one large freed block)
        poison({B, L, Di}, torch::kFloat32);
        torch::Tensor y = cuda::ssdPrefill(gState, torch::tensor(slots, torch::kInt).to(kCuda),
                                           torch::tensor(cont, torch::kInt).to(kCuda),
                                           torch::tensor(lengths, torch::kInt).to(kCuda), xbc.to(kCuda), dt.to(kCuda),
                                           A.to(kCuda), D.to(kCuda), G, c.Q)
                              .cpu();
        const auto what = ::testing::Message() << "L=" << L << " N=" << N << " G=" << G << " P=" << P << " Q=" << c.Q << " " << dtype
                                                << " state=" << c.stateDtype;
        EXPECT_LE(relErr(y, yRef), tol(dtype)) << what;
        for (int64_t b = 0; b < B; ++b) {
          EXPECT_TRUE(y[b].narrow(0, lengths[b], L - lengths[b]).eq(0).all().item<bool>()) << what << " padding rows of " << b;
        }
        torch::Tensor got = gState.cpu().to(torch::kFloat32);
        // B and C blocks at a zero-padded pitch (the next multiple of 8: what the model passes
        // for an unaligned N) give the same result through the 16-byte staging path.
        const int64_t Np = (N + 7) / 8 * 8;
        if (Np != N) {
          torch::Tensor pState = state.to(kCuda, c.stateDtype);
          torch::Tensor yp = cuda::ssdPrefill(pState, torch::tensor(slots, torch::kInt).to(kCuda),
                                              torch::tensor(cont, torch::kInt).to(kCuda),
                                              torch::tensor(lengths, torch::kInt).to(kCuda),
                                              padStateBlocks(xbc, Di, G, N, Np).to(kCuda), dt.to(kCuda),
                                              A.to(kCuda), D.to(kCuda), G, c.Q, Np)
                                 .cpu();
          EXPECT_LE(relErr(yp, y), 1e-6) << what << " pitch " << Np;
          EXPECT_LE(relErr(pState.cpu().to(torch::kFloat32), got), 1e-6) << what << " pitch " << Np;
        }
        const double stateTol = std::max(tol(dtype), c.stateDtype == torch::kFloat32 ? 0.0 : 8e-3);
        for (int64_t b = 0; b < B; ++b) {
          EXPECT_LE(relErr(got[slots[b]], stateRef[slots[b]]), stateTol) << what << " state of " << b;
        }
        for (int64_t s = 0; s < S; ++s) {
          if (std::find(slots.begin(), slots.end(), s) != slots.end()) continue;
          EXPECT_TRUE(torch::equal(got[s], state[s])) << what << " slot " << s;
        }
      }
    }
  }
}

TEST_F(SsdPrefillTest, ResultDoesNotDependOnChunkSize) {
  torch::manual_seed(11);
  const int64_t B = 2, L = 515, H = 2, P = 64, N = 128, Di = H * P, CD = Di + 2 * N, S = 2;
  torch::Tensor xbc = torch::randn({B, L, CD}).to(kCuda);
  torch::Tensor dt = (F::softplus(torch::randn({B, L, H}) - 3.0)).to(kCuda);
  torch::Tensor A = -torch::rand({H}).to(kCuda) - 0.1, D = torch::randn({H}).to(kCuda);
  torch::Tensor slots = torch::tensor({0, 1}, torch::kInt).to(kCuda), cont = torch::ones({B}, torch::kInt).to(kCuda);
  torch::Tensor lengths = torch::tensor({515, 300}, torch::kInt).to(kCuda);
  torch::Tensor init = torch::randn({S, H, P, N}).to(kCuda);
  torch::Tensor s0 = init.clone();
  torch::Tensor y0 = cuda::ssdPrefill(s0, slots, cont, lengths, xbc, dt, A, D, 1, 256);
  for (int64_t q : {1, 33, 64, 128, 200}) {
    torch::Tensor s = init.clone();
    torch::Tensor y = cuda::ssdPrefill(s, slots, cont, lengths, xbc, dt, A, D, 1, q);
    EXPECT_LE(relErr(y, y0), 1e-4) << "Q=" << q;
    EXPECT_LE(relErr(s, s0), 1e-4) << "Q=" << q;
  }
}

TEST_F(SsdPrefillTest, AdapterRejectsBadInputs) {
  auto opt = torch::TensorOptions().device(kCuda);
  torch::Tensor state = torch::zeros({2, 2, 4, 8}, opt), xbc = torch::zeros({1, 5, 8 + 16}, opt);
  torch::Tensor dt = torch::zeros({1, 5, 2}, opt), h = torch::zeros({2}, opt);
  torch::Tensor one = torch::ones({1}, opt.dtype(torch::kInt));
  EXPECT_NO_THROW(cuda::ssdPrefill(state, one, one, one, xbc, dt, h, h, 1, 64));
  EXPECT_THROW(cuda::ssdPrefill(state, one, one, one, xbc, dt, h, h, 1, 300), c10::Error);  // chunk size
  EXPECT_THROW(cuda::ssdPrefill(state, one, one, one, xbc, dt, h, h, 2, 64), c10::Error);   // xbc width for G = 2
  EXPECT_THROW(cuda::ssdPrefill(state, one, one.to(torch::kLong), one, xbc, dt, h, h, 1, 64), c10::Error);  // cont dtype
  torch::Tensor half = state.to(torch::kFloat16);
  EXPECT_THROW(cuda::ssdPrefill(half, one, one, one, xbc, dt, h, h, 1, 64), c10::Error);  // state dtype
}

// torch::equal, or where they differ the largest absolute difference (NaN counts as differing).
::testing::AssertionResult bitIdentical(const torch::Tensor& got, const torch::Tensor& want) {
  if (got.sizes() == want.sizes() && torch::equal(got, want)) return ::testing::AssertionSuccess();
  if (got.sizes() != want.sizes()) return ::testing::AssertionFailure() << "shapes differ";
  torch::Tensor d = (got.to(torch::kFloat64) - want.to(torch::kFloat64)).abs();
  const int64_t bad = got.ne(want).sum().item<int64_t>();
  return ::testing::AssertionFailure() << bad << " of " << got.numel() << " elements differ, max |diff| "
                                       << d.nan_to_num(INFINITY).max().item<double>();
}

// Short calls (L <= kSsdSingleTileMaxLen in one chunk) run the single-tile kernel: the same
// products in the same order as the three-launch path, so y and the final states must agree bit
// for bit (and both must match the reference). Ragged lengths with a fresh and a continued
// sequence of length 0, every operand type, fp32 and bf16 pool states, N aligned and not (at
// the model's zero-padded pitch and element by element), P with a partial 64-lane tile, G = 2.
TEST_F(SsdPrefillTest, SingleTileMatchesThreeLaunchPathBitForBit) {
  if (!cuda::ssdPrefillSingleTile(1, 1, 1, 1, 1, 1)) GTEST_SKIP() << "the single-tile launch needs sm_90 (clusters)";
  struct Shape {
    int64_t N, G, P, L, Q;
    torch::ScalarType stateDtype;
  };
  const Shape shapes[] = {{128, 1, 64, 64, 128, torch::kFloat32}, {128, 1, 64, 64, 128, torch::kBFloat16},
                          {64, 2, 80, 37, 64, torch::kFloat32},   {115, 1, 64, 64, 128, torch::kFloat32},
                          {12, 1, 16, 16, 16, torch::kFloat32},   {200, 1, 32, 50, 256, torch::kBFloat16},
                          {7, 2, 64, 1, 128, torch::kFloat32}};
  const int64_t B = 5, H = 4, S = 7;
  const std::vector<int32_t> slots = {5, 0, 3, 6, 1}, cont = {0, 1, 1, 0, 1};
  for (auto dtype : {torch::kBFloat16, torch::kFloat16, torch::kFloat32}) {
    for (const Shape& z : shapes) {
      const int64_t N = z.N, G = z.G, P = z.P, L = z.L, Di = H * P;
      const int32_t full = static_cast<int32_t>(L);
      const std::vector<int32_t> lengths = {full, std::max(full - 3, 1), 0, 0, std::min(full, 9)};
      torch::manual_seed(N * 17 + P + L + G);
      torch::Tensor xbc = torch::randn({B, L, Di + 2 * G * N}).to(dtype);
      torch::Tensor dt = raggedDt(B, L, H, lengths);
      torch::Tensor A = -torch::exp(torch::rand({H}) * 3 - 2), D = torch::randn({H});
      torch::Tensor state = torch::randn({S, H, P, N}).to(z.stateDtype).to(torch::kFloat32);
      const auto [yRef, stateRef] = reference(xbc, dt, A, D, state, lengths, slots, cont, H, P, G, N);
      const auto what = ::testing::Message() << "L=" << L << " N=" << N << " G=" << G << " P=" << P << " " << dtype
                                              << " state=" << z.stateDtype;
      ASSERT_TRUE(cuda::ssdPrefillSingleTile(B, L, H, P, N, z.Q)) << what << ": not the single-tile path";
      for (int64_t pitch : {int64_t{0}, (N + 7) / 8 * 8}) {
        torch::Tensor xin = (pitch == 0 ? xbc : padStateBlocks(xbc, Di, G, N, pitch)).to(kCuda);
        torch::Tensor ys[2], states[2];
        for (int single = 0; single < 2; ++single) {
          torch::Tensor pool = state.to(kCuda, z.stateDtype);
          poison({1 << 24}, torch::kFloat32);
          poison({B, L, Di}, torch::kFloat32);
          ys[single] = cuda::ssdPrefill(pool, cudaInts(slots), cudaInts(cont), cudaInts(lengths), xin, dt.to(kCuda),
                                        A.to(kCuda), D.to(kCuda), G, z.Q, pitch, single == 1)
                           .cpu();
          states[single] = pool.cpu().to(torch::kFloat32);
        }
        EXPECT_TRUE(bitIdentical(ys[1], ys[0])) << what << " pitch " << pitch << ": y";
        EXPECT_TRUE(bitIdentical(states[1], states[0])) << what << " pitch " << pitch << ": states";
        EXPECT_LE(relErr(ys[1], yRef), tol(dtype)) << what << " pitch " << pitch;
        const double stateTol = std::max(tol(dtype), z.stateDtype == torch::kFloat32 ? 0.0 : 8e-3);
        for (int64_t b = 0; b < B; ++b) {
          EXPECT_LE(relErr(states[1][slots[b]], stateRef[slots[b]]), stateTol) << what << " state of " << b;
          EXPECT_TRUE(ys[1][b].narrow(0, lengths[b], L - lengths[b]).eq(0).all().item<bool>())
              << what << " padding rows of " << b;
        }
        EXPECT_TRUE(torch::equal(states[1][2], state[2]) && torch::equal(states[1][4], state[4]))
            << what << " untouched slots";
      }
    }
  }
}

// Compacted (pruned) state sizes at the mamba2-130m head shape (P = 64, Q = 128, also 100):
// with fp16/bf16 operands N = 12, 20, 72, 89 take the trimmed kernels (ssd_prefill.cuh: narrow n
// slices, skipped N fragments and k-steps; 72 and 89: a 64-wide slice, then one 16 or 32 wide
// over stale shared memory); N = 38, 64, 115, 128 and fp32 operands the original full-tile ones.
// Several chunks with a length that is not a multiple of Q and last chunks of 1 and 72 steps, or
// one chunk (the prepare kernel does the state pass). Checks y and the final states against the
// reference, and bit for bit against
//   * the element-by-element staging (no pitch) vs the 16-byte one at a zero-padded pitch;
//   * the same data with N zero-padded to a multiple of 64, which runs the original full-tile
//     kernels: skipping products of exact zeros must not change a bit of y or of the first N
//     state columns (the padded ones must stay exactly 0).
TEST_F(SsdPrefillTest, CompactedStateSizesMatchReferenceAndFullTiles) {
  struct Size {
    int64_t N, G, Q;
    torch::ScalarType stateDtype;
  };
  const Size sizes[] = {{12, 1, 128, torch::kFloat32},  {20, 2, 128, torch::kFloat32}, {38, 1, 100, torch::kBFloat16},
                        {64, 1, 128, torch::kFloat32},  {72, 2, 128, torch::kFloat32}, {115, 1, 128, torch::kFloat32},
                        {128, 1, 100, torch::kFloat32}, {12, 2, 100, torch::kBFloat16}, {89, 1, 100, torch::kBFloat16}};
  const int64_t B = 4, H = 4, P = 64, S = 6, Di = H * P;
  const std::vector<int32_t> slots = {3, 0, 5, 1}, cont = {1, 0, 1, 1};
  for (bool oneChunk : {false, true}) {
    for (auto dtype : {torch::kBFloat16, torch::kFloat32, torch::kFloat16}) {
      for (const Size& z : sizes) {
        const int64_t N = z.N, G = z.G, Q = z.Q, L = oneChunk ? Q : 300, CD = Di + 2 * G * N;
        // 300 = 2 x 128 + 44 (or 3 x 100); 129: a last chunk of 1 step; 200: of 72 (or 100).
        // One chunk: a full one, 1 step, 77 steps and a continued sequence of length 0.
        const std::vector<int32_t> lengths = oneChunk ? std::vector<int32_t>{static_cast<int32_t>(Q), 1, 77, 0}
                                                      : std::vector<int32_t>{300, 129, 200, 64};
        torch::manual_seed(N * 31 + G * 7 + Q + (oneChunk ? 1 : 0));
        torch::Tensor xbc = torch::randn({B, L, CD}).to(dtype);
        torch::Tensor dt = raggedDt(B, L, H, lengths);
        torch::Tensor A = -torch::exp(torch::rand({H}) * 3 - 2), D = torch::randn({H});
        torch::Tensor state = torch::randn({S, H, P, N}).to(z.stateDtype).to(torch::kFloat32);

        const auto [yRef, stateRef] = reference(xbc, dt, A, D, state, lengths, slots, cont, H, P, G, N);

        // One run of the kernels on xbc laid out at state pitch `pitch` (0: N) for a pool of `n`
        // states per row holding `init` in its first N columns and zeros after.
        auto run = [&](const torch::Tensor& xbcIn, int64_t pitch, int64_t n, torch::Tensor& pool) {
          torch::Tensor init = torch::zeros({S, H, P, n});
          init.narrow(3, 0, N).copy_(state);
          pool = init.to(kCuda, z.stateDtype);
          poison({1 << 24}, torch::kFloat32);  // the workspace (best effort)
          poison({B, L, Di}, torch::kFloat32);
          return cuda::ssdPrefill(pool, cudaInts(slots), cudaInts(cont), cudaInts(lengths), xbcIn.to(kCuda),
                                  dt.to(kCuda), A.to(kCuda), D.to(kCuda), G, Q, pitch)
              .cpu();
        };
        const auto what = ::testing::Message() << "L=" << L << " N=" << N << " G=" << G << " Q=" << Q << " " << dtype
                                                << " state=" << z.stateDtype;
        torch::Tensor pool;
        torch::Tensor y = run(xbc, 0, N, pool);
        torch::Tensor got = pool.cpu().to(torch::kFloat32);
        EXPECT_LE(relErr(y, yRef), tol(dtype)) << what;
        for (int64_t b = 0; b < B; ++b) {
          EXPECT_TRUE(y[b].narrow(0, lengths[b], L - lengths[b]).eq(0).all().item<bool>())
              << what << " padding rows of " << b;
        }
        const double stateTol = std::max(tol(dtype), z.stateDtype == torch::kFloat32 ? 0.0 : 8e-3);
        for (int64_t b = 0; b < B; ++b) {
          EXPECT_LE(relErr(got[slots[b]], stateRef[slots[b]]), stateTol) << what << " state of " << b;
        }
        EXPECT_TRUE(torch::equal(got[2], state[2]) && torch::equal(got[4], state[4])) << what << " untouched slots";

        const int64_t Np = (N + 7) / 8 * 8;
        if (Np != N) {  // the model's layout for an unaligned N
          torch::Tensor yp = run(padStateBlocks(xbc, Di, G, N, Np), Np, N, pool);
          EXPECT_TRUE(bitIdentical(yp, y)) << what << ": y at pitch " << Np << " vs element-by-element staging";
          EXPECT_TRUE(bitIdentical(pool.cpu().to(torch::kFloat32), got)) << what << ": states at pitch " << Np;
        }
        const int64_t Nf = (N + 63) / 64 * 64;
        if (Nf != N) {
          torch::Tensor yf = run(padStateBlocks(xbc, Di, G, N, Nf), 0, Nf, pool);
          torch::Tensor full = pool.cpu().to(torch::kFloat32);
          EXPECT_TRUE(bitIdentical(y, yf)) << what << ": y vs the same data zero-padded to N=" << Nf
                                           << " (the skipped products or the narrow staging changed a result)";
          EXPECT_TRUE(bitIdentical(got, full.narrow(3, 0, N))) << what << ": states vs zero-padded N=" << Nf;
          EXPECT_TRUE(full.narrow(3, N, Nf - N).eq(0).all().item<bool>()) << what << ": padded state columns not 0";
        }
      }
    }
  }
}

// The sequential-chunk kernel (forced): fp16/bf16 operands, fp32/bf16 pools, N = 128 / 64 and
// compacted 12 and 38 at the model's zero-padded pitch, P = 64 and 80 (a 16-lane second tile),
// G = 1 and 2, ragged lengths (0 with a fresh slot, 1, 129 = two chunks of 64 and one step, the
// full 300) against the LibTorch reference and against the chunked kernels on the same input.
TEST_F(SsdPrefillTest, SequentialChunkMatchesReferenceAndChunkedKernels) {
  const SeqShape shapes[] = {{128, 128, 1, 64, torch::kBFloat16, torch::kFloat32},
                             {128, 128, 2, 64, torch::kFloat16, torch::kBFloat16},
                             {64, 64, 1, 80, torch::kBFloat16, torch::kFloat32},
                             {12, 16, 1, 64, torch::kBFloat16, torch::kFloat32},
                             {38, 40, 2, 64, torch::kFloat16, torch::kFloat32}};
  const int64_t B = 4, H = 4, S = 6, L = 300, Q = 256;
  const std::vector<int32_t> slots = {3, 0, 5, 1}, cont = {0, 1, 1, 1}, lengths = {0, 1, 129, 300};
  using kernels::SsdSequential;
  for (const SeqShape& z : shapes) {
    const int64_t N = z.N, G = z.G, P = z.P, Di = H * P;
    ASSERT_TRUE(cuda::ssdPrefillSequential(B, L, H, P, z.Np, Q, z.dtype, SsdSequential::kForce));
    ASSERT_FALSE(cuda::ssdPrefillSequential(B, L, H, P, z.Np, Q, z.dtype, SsdSequential::kOff));
    torch::manual_seed(N * 17 + G + P);
    torch::Tensor xbc = torch::randn({B, L, Di + 2 * G * N}).to(z.dtype);
    torch::Tensor dt = raggedDt(B, L, H, lengths);
    torch::Tensor A = -torch::exp(torch::rand({H}) * 3 - 2), D = torch::randn({H});
    torch::Tensor state = torch::randn({S, H, P, N}).to(z.stateDtype).to(torch::kFloat32);
    const auto [yRef, stateRef] = reference(xbc, dt, A, D, state, lengths, slots, cont, H, P, G, N);
    torch::Tensor xin = (z.Np != N ? padStateBlocks(xbc, Di, G, N, z.Np) : xbc).to(kCuda);
    auto run = [&](SsdSequential mode, torch::Tensor& pool) {
      pool = state.to(kCuda, z.stateDtype);
      poison({1 << 24}, torch::kFloat32);
      poison({B, L, Di}, torch::kFloat32);
      return cuda::ssdPrefill(pool, cudaInts(slots), cudaInts(cont), cudaInts(lengths), xin, dt.to(kCuda), A.to(kCuda),
                              D.to(kCuda), G, Q, z.Np != N ? z.Np : 0, true, mode)
          .cpu();
    };
    const auto what = ::testing::Message() << "N=" << N << " Np=" << z.Np << " G=" << G << " P=" << P << " "
                                            << z.dtype << " state=" << z.stateDtype;
    torch::Tensor poolSeq, poolChunked;
    torch::Tensor y = run(SsdSequential::kForce, poolSeq);
    torch::Tensor yChunked = run(SsdSequential::kOff, poolChunked);
    torch::Tensor got = poolSeq.cpu().to(torch::kFloat32);
    EXPECT_LE(relErr(y, yRef), tol(z.dtype)) << what;
    EXPECT_LE(relErr(y, yChunked), tol(z.dtype)) << what << " vs the chunked kernels";
    for (int64_t b = 0; b < B; ++b) {
      EXPECT_TRUE(y[b].narrow(0, lengths[b], L - lengths[b]).eq(0).all().item<bool>()) << what << " padding rows of " << b;
    }
    const double stateTol = std::max(tol(z.dtype), z.stateDtype == torch::kFloat32 ? 0.0 : 8e-3);
    for (int64_t b = 0; b < B; ++b) {
      EXPECT_LE(relErr(got[slots[b]], stateRef[slots[b]]), stateTol) << what << " state of " << b;
    }
    EXPECT_TRUE(torch::equal(got[2], state[2]) && torch::equal(got[4], state[4])) << what << " untouched slots";
  }
}

// The sequential-chunk kernel's gated output (the row-local half of the gated RMSNorm in its
// epilogue) against the plain output on the same call: v * weight and the parts' sums of v^2
// (v = y silu z, y the kernel's own fp32 y) to fp32 and dtype rounding, zero padding rows, and
// the normalised result (gated * rsqrt(group's sum / width + eps)) against cuda::gatedRmsNorm(y).
// G = 1 and 2 (the sums of a group are its heads' parts), P = 64 and 80 (a half-empty tile),
// compacted N at its pitch, fp16 and bf16 operands, both pool types.
TEST_F(SsdPrefillTest, SequentialChunkGatedOutputMatchesGatedNorm) {
  const SeqShape shapes[] = {{128, 128, 1, 64, torch::kBFloat16, torch::kFloat32},
                             {64, 64, 2, 80, torch::kFloat16, torch::kBFloat16},
                             {38, 40, 1, 64, torch::kBFloat16, torch::kFloat32}};
  const int64_t B = 4, H = 4, S = 6, L = 300;
  const std::vector<int32_t> slots = {3, 0, 5, 1}, cont = {0, 1, 1, 1}, lengths = {0, 1, 129, 300};
  using kernels::SsdSequential;
  for (const SeqShape& z : shapes) {
    const int64_t N = z.N, G = z.G, P = z.P, Di = H * P, parts = kernels::ssdGateParts(H, P);
    torch::manual_seed(N * 31 + G + P);
    torch::Tensor xbc = torch::randn({B, L, Di + 2 * G * N}).to(z.dtype);
    torch::Tensor xin = (z.Np != N ? padStateBlocks(xbc, Di, G, N, z.Np) : xbc).to(kCuda);
    torch::Tensor dt = raggedDt(B, L, H, lengths).to(kCuda);
    torch::Tensor A = (-torch::exp(torch::rand({H}) * 3 - 2)).to(kCuda), D = torch::randn({H}).to(kCuda);
    torch::Tensor state = torch::randn({S, H, P, N}).to(z.stateDtype);
    // zxbcdt-like rows: z in the first Di columns of a wider matrix.
    torch::Tensor zx = (torch::randn({B, L, Di + 24}) * 2).to(z.dtype).to(kCuda);
    torch::Tensor w = (1 + 0.3 * torch::randn({Di})).to(z.dtype).to(kCuda);
    const int64_t pitch = z.Np != N ? z.Np : 0;
    torch::Tensor poolPlain = state.to(kCuda), poolGated = state.to(kCuda);
    torch::Tensor y = cuda::ssdPrefill(poolPlain, cudaInts(slots), cudaInts(cont), cudaInts(lengths), xin, dt, A, D, G,
                                       256, pitch, true, SsdSequential::kForce);
    poison({B, L, Di}, z.dtype);
    cuda::SsdGatedResult g = cuda::ssdPrefillGated(poolGated, cudaInts(slots), cudaInts(cont), cudaInts(lengths), xin,
                                                   dt, A, D, G, pitch, zx, w, SsdSequential::kForce);
    const auto what = ::testing::Message() << "N=" << N << " G=" << G << " P=" << P << " " << z.dtype;
    ASSERT_EQ(g.gated.sizes(), y.sizes()) << what;
    ASSERT_EQ(g.sumSq.size(0), B * L) << what;
    ASSERT_EQ(g.sumSq.size(1), parts) << what;
    EXPECT_TRUE(torch::equal(poolGated.cpu(), poolPlain.cpu())) << what << ": final states differ from the plain call";
    torch::Tensor zf = zx.narrow(2, 0, Di).to(torch::kFloat32);
    torch::Tensor v = y * zf * torch::sigmoid(zf);                               // (B, L, Di) fp32
    torch::Tensor gatedRef = (v * w.to(torch::kFloat32)).to(z.dtype).to(torch::kFloat32);
    EXPECT_LE(relErr(g.gated.to(torch::kFloat32).cpu(), gatedRef.cpu()), z.dtype == torch::kBFloat16 ? 1e-2 : 2e-3)
        << what << ": gated output";
    // Part k of a row covers channels h*P + 64 tile + 32 half + [0, 32): sum v^2 that way.
    const int64_t tiles = (P + 63) / 64;
    torch::Tensor vp = torch::zeros({B * L, H, tiles * 64}, kCuda);
    vp.narrow(2, 0, P).copy_(v.reshape({B * L, H, P}));
    torch::Tensor ssRef = vp.pow(2).view({B * L, H, tiles * 2, 32}).sum(-1).view({B * L, parts});
    EXPECT_LE(relErr(g.sumSq.cpu(), ssRef.cpu()), 1e-5) << what << ": sums of squares";
    for (int64_t b = 0; b < B; ++b) {
      EXPECT_TRUE(g.gated[b].narrow(0, lengths[b], L - lengths[b]).eq(0).all().item<bool>()) << what << " padding " << b;
      EXPECT_TRUE(g.sumSq.narrow(0, b * L + lengths[b], L - lengths[b]).eq(0).all().item<bool>()) << what << " padding " << b;
    }
    // The consumer's view: each group's factor from its heads' parts.
    torch::Tensor groupSum = g.sumSq.view({B * L, G, parts / G}).sum(-1);       // (B*L, G)
    torch::Tensor inv = torch::rsqrt(groupSum / (Di / G) + 1e-5).repeat_interleave(Di / G, 1);
    torch::Tensor normed = g.gated.to(torch::kFloat32).view({B * L, Di}) * inv;
    torch::Tensor ref = cuda::gatedRmsNorm(y.view({B * L, Di}), zx.view({B * L, -1}), w, G, 1e-5).to(torch::kFloat32);
    EXPECT_LE(relErr(normed.cpu(), ref.cpu()), tol(z.dtype)) << what << ": normalised";
  }
}

// The default dispatch at the mamba2-130m shape (8 sequences x 24 heads, N = 128, bf16): the
// sequential-chunk kernel runs (192 blocks) and agrees with the chunked kernels.
TEST_F(SsdPrefillTest, SequentialChunkIsTheDefaultForLargeCalls) {
  const int64_t B = 8, H = 24, P = 64, N = 128, L = 1000, S = 8, Di = H * P, Q = 256;
  using kernels::SsdSequential;
  if (!cuda::ssdPrefillSequential(B, L, H, P, N, Q, torch::kBFloat16, SsdSequential::kAuto)) {
    GTEST_SKIP() << "fewer than 192 blocks' worth of SMs? the default keeps the chunked kernels here";
  }
  torch::manual_seed(7);
  std::vector<int32_t> slots(B), cont(B), lengths(B);
  for (int32_t b = 0; b < B; ++b) {
    slots[b] = b;
    cont[b] = b % 2;
    lengths[b] = static_cast<int32_t>(L - 97 * b);
  }
  torch::Tensor xbc = torch::randn({B, L, Di + 2 * N}).to(torch::kBFloat16).to(kCuda);
  torch::Tensor dt = raggedDt(B, L, H, lengths);
  torch::Tensor A = -torch::exp(torch::rand({H}) * 3 - 2).to(kCuda), D = torch::randn({H}).to(kCuda);
  torch::Tensor state = torch::randn({S, H, P, N});
  torch::Tensor pAuto = state.to(kCuda), pOff = state.to(kCuda);
  torch::Tensor yAuto =
      cuda::ssdPrefill(pAuto, cudaInts(slots), cudaInts(cont), cudaInts(lengths), xbc, dt.to(kCuda), A, D, 1, Q);
  torch::Tensor yOff = cuda::ssdPrefill(pOff, cudaInts(slots), cudaInts(cont), cudaInts(lengths), xbc, dt.to(kCuda), A,
                                        D, 1, Q, 0, true, SsdSequential::kOff);
  EXPECT_LE(relErr(yAuto.cpu(), yOff.cpu()), tol(torch::kBFloat16));
  EXPECT_LE(relErr(pAuto.cpu(), pOff.cpu()), tol(torch::kBFloat16));
  EXPECT_FALSE(torch::equal(yAuto.cpu(), yOff.cpu())) << "identical bits: did the default take the chunked kernels?";
}

}  // namespace
}  // namespace mamba
