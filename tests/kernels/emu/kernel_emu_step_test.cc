// The decode-step kernels (kernels/conv_step, kernels/ssm_step, kernels/gemv) and the norms (kernels/norm) on
// the CPU through the kernel emulator, against naive fp64 references (label emu; see
// kernel_emu_test.cc). Padding rows (slot -1), slots in any order, unaligned N (the SSM step's
// split-over-blocks path), both gated-norm kernels.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/conv_step/conv_step.h"
#include "kernels/gemv/gemv.h"
#include "kernels/norm/norm.h"
#include "kernels/ssm_step/ssm_step.h"
#include "tests/kernels/emu/emu_test_util.h"

namespace {

using namespace mamba::kernels;  // NOLINT: test-local
using namespace emu_test;        // NOLINT: test-local

// max |got - ref| / max |ref| over equal-length arrays.
template <typename G>
double relErr(const std::vector<G>& got, const std::vector<double>& ref) {
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double g = toF(got[i]);
    err = std::max(err, std::isnan(g) ? INFINITY : std::abs(g - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return err / scale;
}

template <typename T>
void gatedNormCase(int R, int W, int G, int zPad, bool allowVector) {
  const int zStride = W + zPad, gw = W / G;
  std::vector<float> y(R * W);
  std::vector<T> z(R * zStride), w(W), out(R * W, fromF<T>(NAN));
  for (auto& v : y) v = randn();
  for (auto& v : z) v = fromF<T>(randn());
  for (auto& v : w) v = fromF<T>(urand() + 0.5f);
  GatedRmsNormParams p;
  p.rows = R; p.width = W; p.groups = G; p.y = y.data(); p.z = z.data(); p.zStride = zStride;
  p.weight = w.data(); p.out = out.data(); p.eps = 1e-5f; p.elem = elemOfT<T>(); p.allowVector = allowVector;
  launchGatedRmsNorm(p, nullptr);
  std::vector<double> ref(R * W);
  for (int r = 0; r < R; ++r) {
    for (int g = 0; g < G; ++g) {
      double ss = 0;
      for (int c = g * gw; c < (g + 1) * gw; ++c) ss += std::pow(y[r * W + c] * siluD(toF(z[r * zStride + c])), 2);
      const double inv = 1 / std::sqrt(ss / gw + 1e-5);
      for (int c = g * gw; c < (g + 1) * gw; ++c) {
        ref[r * W + c] = y[r * W + c] * siluD(toF(z[r * zStride + c])) * inv * toF(w[c]);
      }
    }
  }
  const double err = relErr(out, ref);
  check(err <= roundingTol<T>(), allowVector ? "gated norm" : "gated norm, two-pass", err);
}

// parts > 0: delta scaled per row by rsqrt(sum of that row's parts / normWidth + eps) (the gated
// SSD output's norm factor, applied after out_proj).
template <typename T>
void addNormCase(int R, int W, int parts = 0) {
  const int normWidth = 3 * W;
  std::vector<float> sumSq(R * std::max(parts, 1));
  for (auto& v : sumSq) v = urand() * 40;
  std::vector<float> res(R * W);
  std::vector<T> delta(R * W), w(W), out(R * W, fromF<T>(NAN));
  for (auto& v : res) v = randn();
  for (auto& v : delta) v = fromF<T>(randn());
  for (auto& v : w) v = fromF<T>(urand() + 0.5f);
  std::vector<float> before = res;
  AddRmsNormParams p;
  p.rows = R; p.width = W; p.residual = res.data(); p.delta = delta.data(); p.weight = w.data(); p.out = out.data();
  p.eps = 1e-5f; p.elem = elemOfT<T>();
  if (parts > 0) {
    p.deltaSumSq = sumSq.data(); p.deltaSumSqParts = parts; p.deltaNormWidth = normWidth; p.deltaEps = 1e-5f;
  }
  launchAddRmsNorm(p, nullptr);
  bool residualExact = true;
  std::vector<double> ref(R * W);
  for (int r = 0; r < R; ++r) {
    double ss = 0, rowSum = 0;
    for (int k = 0; k < parts; ++k) rowSum += sumSq[r * parts + k];
    const double scale = parts > 0 ? 1 / std::sqrt(rowSum / normWidth + 1e-5) : 1.0;
    for (int c = 0; c < W; ++c) {
      const double want = before[r * W + c] + toF(delta[r * W + c]) * scale;
      const float sum = before[r * W + c] + toF(delta[r * W + c]);  // the fp32 add, exactly
      // Unscaled: the fp32 add bit for bit; scaled: to fp32 rounding of the product and the sum.
      residualExact &= parts > 0 ? std::abs(res[r * W + c] - want) <= 1e-6 * (std::abs(want) + 1) : res[r * W + c] == sum;
      ss += static_cast<double>(res[r * W + c]) * res[r * W + c];
    }
    const double inv = 1 / std::sqrt(ss / W + 1e-5);
    for (int c = 0; c < W; ++c) ref[r * W + c] = res[r * W + c] * inv * toF(w[c]);
  }
  check(residualExact, "add + RMSNorm: residual", 0);
  const double err = relErr(out, ref);
  check(err <= roundingTol<T>(), "add + RMSNorm: output", err);
}

template <typename TIn>
void convStepCase(int CD, int K) {
  const int B = 4, S = 6, stride = CD + 13;
  const std::vector<int32_t> slots = {3, -1, 0, 5};
  std::vector<float> state(S * CD * K), w(CD * K), bias(CD), out(B * CD, NAN);
  std::vector<TIn> in(B * stride);
  for (auto& v : state) v = randn();
  for (auto& v : w) v = randn() * 0.5f;
  for (auto& v : bias) v = randn();
  for (auto& v : in) v = fromF<TIn>(randn());
  const std::vector<float> before = state;
  ConvStepParams p;
  p.batch = B; p.channels = CD; p.kernelSize = K; p.state = state.data(); p.slots = slots.data();
  p.input = in.data(); p.inputStride = stride; p.inputElem = elemOfT<TIn>(); p.weight = w.data();
  p.bias = bias.data(); p.out = out.data();
  launchConvStep(p, nullptr);
  std::vector<float> refState = before;
  std::vector<double> ref(B * CD, 0.0);
  for (int b = 0; b < B; ++b) {
    const int s = slots[b];
    if (s < 0) continue;
    for (int c = 0; c < CD; ++c) {
      float* win = refState.data() + (s * CD + c) * K;
      for (int k = 0; k + 1 < K; ++k) win[k] = win[k + 1];
      win[K - 1] = toF(in[b * stride + c]);
      double acc = bias[c];
      for (int k = 0; k < K; ++k) acc += static_cast<double>(win[k]) * w[c * K + k];
      ref[b * CD + c] = siluD(acc);
    }
  }
  check(state == refState, "conv step: windows (exact), other slots untouched", 0);
  const double err = relErr(out, ref);
  check(err <= 1e-5, "conv step: output (padding row 0)", err);
}

template <typename TState, typename TDt>
void ssmStepCase(int N, int G, int P) {
  // A row stride that is a multiple of 4 where N is (the per-team kernel's 16-byte loads need it;
  // otherwise the flat kernel runs), with padding past the row either way.
  const int B = 3, H = 4, S = 5, Di = H * P, stride = Di + 2 * G * N + (N % 4 == 0 ? 8 : 7), dtStride = H + 3;
  const std::vector<int32_t> slots = {4, -1, 1};
  std::vector<TState> state(S * H * P * N);
  std::vector<float> xbc(B * stride), dtBias(H), A(H), D(H), y(B * Di, NAN);
  std::vector<TDt> dtRaw(B * dtStride);
  for (auto& v : state) v = fromF<TState>(randn());
  for (auto& v : xbc) v = randn();
  for (auto& v : dtRaw) v = fromF<TDt>(randn());
  for (int h = 0; h < H; ++h) {
    dtBias[h] = urand() - 2;
    A[h] = -std::exp(urand() * 2 - 1);
    D[h] = randn();
  }
  const std::vector<TState> before = state;
  SsmStepParams p;
  p.batch = B; p.nHeads = H; p.headDim = P; p.nGroups = G; p.stateSize = N; p.dInner = Di;
  p.state = state.data(); p.stateElem = elemOfT<TState>(); p.slots = slots.data(); p.xbc = xbc.data();
  p.xbcStride = stride; p.dtRaw = dtRaw.data(); p.dtStride = dtStride; p.dtElem = elemOfT<TDt>();
  p.dtBias = dtBias.data(); p.A = A.data(); p.D = D.data(); p.dtMin = 0.001f; p.dtMax = 0.1f; p.y = y.data();
  launchSsmStep(p, nullptr);
  std::vector<double> refY(B * Di, 0.0), refState(state.size());
  for (size_t i = 0; i < state.size(); ++i) refState[i] = toF(before[i]);
  for (int b = 0; b < B; ++b) {
    const int s = slots[b];
    if (s < 0) continue;
    const float* row = xbc.data() + b * stride;
    for (int h = 0; h < H; ++h) {
      const int g = h / (H / G);
      const double dt = std::clamp(softplusD(toF(dtRaw[b * dtStride + h]) + dtBias[h]), 0.001, 0.1);
      const double a = std::exp(dt * A[h]);
      for (int pp = 0; pp < P; ++pp) {
        const double x = row[h * P + pp];
        double acc = 0;
        for (int n = 0; n < N; ++n) {
          double& st = refState[((s * H + h) * P + pp) * N + n];
          st = st * a + dt * x * row[Di + g * N + n];
          acc += st * row[Di + G * N + g * N + n];
        }
        refY[b * Di + h * P + pp] = acc + D[h] * x;
      }
    }
  }
  const double stateTol = std::is_same_v<TState, float> ? 1e-5 : 8e-3;
  const double yErr = relErr(y, refY), sErr = relErr(state, refState);
  check(yErr <= 1e-4, "SSM step: y (padding row 0)", yErr);
  check(sErr <= stateTol, "SSM step: state (other slots untouched)", sErr);
}

// The decode in_proj at small batch (kernels/gemv): RMSNorm prologue, product, conv-step
// epilogue on rows [row0, row0 + channels), against the unfused kernels it replaces
// (launchAddRmsNorm, the plain GEMV, launchConvStep) bit for bit, and the product against fp64.
template <typename T>
void gemvRmsNormConvCase(int B, int K, int M, int row0, int channels) {
  const int S = 9, Kc = 4;
  std::vector<int32_t> slots;
  for (int b = 0; b < B; ++b) slots.push_back(b == B / 2 && B > 1 ? -1 : (b * 5 + 2) % S);
  std::vector<float> res(B * K), state(S * channels * Kc), cw(channels * Kc), cb(channels);
  std::vector<T> nw(K), W(M * K), bias(M);
  for (auto& v : res) v = randn() * 3;
  for (auto& v : nw) v = fromF<T>(urand() + 0.5f);
  for (auto& v : W) v = fromF<T>(randn() / 16);
  for (auto& v : bias) v = fromF<T>(randn());
  for (auto& v : state) v = randn();
  for (auto& v : cw) v = randn() * 0.5f;
  for (auto& v : cb) v = randn();
  // Fused.
  std::vector<T> out(B * M, fromF<T>(NAN));
  std::vector<float> fState = state, fConv(B * channels, NAN);
  GemvParams p;
  p.batch = B; p.rows = M; p.cols = K; p.weight = W.data(); p.bias = bias.data(); p.elem = elemOfT<T>();
  p.prologue = GemvPrologue::kRmsNorm; p.normInput = res.data(); p.normWeight = nw.data(); p.eps = 1e-5f;
  p.epilogue = GemvEpilogue::kStoreConvStep; p.out = out.data();
  p.conv = GemvConvStep{row0, channels, Kc, fState.data(), slots.data(), cw.data(), cb.data(), fConv.data()};
  launchGemv(p, nullptr);
  // Unfused: RMSNorm (no add), plain product, conv step on its rows.
  std::vector<float> uRes = res, uState = state, uConv(B * channels, NAN);
  std::vector<T> u(B * K), out2(B * M);
  AddRmsNormParams n;
  n.rows = B; n.width = K; n.residual = uRes.data(); n.weight = nw.data(); n.out = u.data(); n.eps = 1e-5f;
  n.elem = elemOfT<T>();
  launchAddRmsNorm(n, nullptr);
  GemvParams q;
  q.batch = B; q.rows = M; q.cols = K; q.weight = W.data(); q.bias = bias.data(); q.elem = elemOfT<T>();
  q.x = u.data(); q.xStride = K; q.out = out2.data();
  launchGemv(q, nullptr);
  ConvStepParams c;
  c.batch = B; c.channels = channels; c.kernelSize = Kc; c.state = uState.data(); c.slots = slots.data();
  c.input = out2.data() + row0; c.inputStride = M; c.inputElem = elemOfT<T>(); c.weight = cw.data();
  c.bias = cb.data(); c.out = uConv.data();
  launchConvStep(c, nullptr);
  const auto bits = [](const auto& a, const auto& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(a[0])) == 0;
  };
  check(bits(out, out2), "GEMV + RMSNorm: product == unfused (bits)", 0);
  check(bits(fConv, uConv) && bits(fState, uState), "GEMV + conv step: == unfused (bits)", 0);
  check(bits(res, uRes), "GEMV + RMSNorm: residual read only", 0);
  std::vector<double> ref(B * M);
  for (int b = 0; b < B; ++b) {
    for (int m = 0; m < M; ++m) {
      double acc = toF(bias[m]);
      for (int k = 0; k < K; ++k) acc += static_cast<double>(toF(u[b * K + k])) * toF(W[m * K + k]);
      ref[b * M + m] = acc;
    }
  }
  const double err = relErr(out, ref);
  check(err <= 2 * roundingTol<T>(), "GEMV + RMSNorm: product vs fp64", err);
}

}  // namespace

TEST(KernelEmu, NormsMatchReference) {
  for (bool allowVector : {true, false}) {
    gatedNormCase<__nv_bfloat16>(3, 1536, 2, 40, allowVector);  // vector kernel when allowed
    gatedNormCase<float>(2, 768, 1, 40, allowVector);
    gatedNormCase<__half>(2, 96, 4, 40, allowVector);         // 24-wide groups: one partial warp
  }
  gatedNormCase<__nv_bfloat16>(3, 1536, 2, 37, true);          // z rows not 16-byte: two-pass
  addNormCase<__nv_bfloat16>(3, 768);
  addNormCase<float>(2, 100);
  addNormCase<__nv_bfloat16>(3, 768, 48);  // the 130m shape's gate parts
  addNormCase<float>(2, 100, 300);        // more parts than threads
  // >= 1024 rows: the one-warp-per-row vector kernel (a partial last block; 776 = 97 vectors,
  // lanes without a last chunk; 2560 = three chunk batches, the last one partial).
  addNormCase<__nv_bfloat16>(1030, 768);
  addNormCase<__half>(1024, 776, 48);
  addNormCase<float>(1024, 2560, 40);
}

TEST(KernelEmu, ConvStepMatchesReference) {
  convStepCase<float>(40, 4);
  convStepCase<__nv_bfloat16>(36, 4);
  convStepCase<__half>(24, 2);
}

// N = 64 and 128 take the per-team kernel, unaligned N (20, 115) the flat kernel split over
// blocks (shared-memory atomics); bf16 state; dt raw in bf16 or fp32.
TEST(KernelEmu, SsmStepMatchesReference) {
  ssmStepCase<float, float>(64, 1, 16);
  ssmStepCase<float, __nv_bfloat16>(128, 2, 32);
  ssmStepCase<float, float>(20, 2, 16);
  ssmStepCase<__nv_bfloat16, __nv_bfloat16>(115, 1, 64);
}

TEST(KernelEmu, GemvRmsNormConvStepMatchesUnfused) {
  gemvRmsNormConvCase<__nv_bfloat16>(1, 256, 200, 64, 72);
  gemvRmsNormConvCase<__nv_bfloat16>(3, 256, 200, 64, 72);
  gemvRmsNormConvCase<float>(8, 128, 96, 32, 40);
  gemvRmsNormConvCase<__half>(2, 192, 88, 0, 88);
}
