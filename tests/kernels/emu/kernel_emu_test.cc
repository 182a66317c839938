// The conv and SSD prefill launchers (kernels/conv_prefill, kernels/ssd_prefill) run on the CPU
// through the kernel emulator (include/emu_runtime.h, gen.sh), against naive fp64 references:
// the kernels' logic (indexing, masking, ragged lengths, history, pool windows and states,
// trimmed and padded N, the vector and the per-channel conv, bit for bit) is checked on every
// build, here, without a GPU. Label emu. The GPU tests (label gpu) check the same on hardware.
// kernel_emu_step_test.cc does the same for the decode-step kernels and the norms.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "kernels/conv_prefill/conv_prefill.cuh"
#include "kernels/ssd_prefill/ssd_prefill.cuh"
#include "tests/kernels/emu/emu_test_util.h"

namespace {

using namespace mamba::kernels;  // NOLINT: test-local
using namespace emu_test;        // NOLINT: test-local

template <typename TIn, typename TOut>
void convCase(int N, int G, int K, bool alignedRows = false) {
  const int B = 5, L = 70, S = 9, H = 4, Di = 64, CD = Di + 2 * G * N;
  const int DIP0 = 2 * Di + 2 * G * N + H, DIP = alignedRows ? (DIP0 + 7) / 8 * 8 : DIP0 + 3;
  const std::vector<int32_t> slots = {5, 0, 3, 7, 8}, cont = {1, 0, 1, 0, 1}, lengths = {1, 7, 40, 70, 2};
  std::vector<float> state(S * CD * K), w(CD * K), bias(CD), dtBias(H);
  for (auto& v : state) v = randn();
  for (auto& v : w) v = randn() * 0.5f;
  for (auto& v : bias) v = randn();
  for (auto& v : dtBias) v = urand() - 2;
  std::vector<TIn> zx(B * L * DIP);
  for (auto& v : zx) v = fromF<TIn>(randn());
  std::vector<TOut> out(B * L * CD, fromF<TOut>(NAN));
  std::vector<float> dt(B * L * H, NAN), st = state;
  const float dtMin = N == 20 ? 0.05f : 0.f, dtMax = N == 20 ? 0.5f : 3.4e38f;
  ConvPrefillParams p;
  p.batch = B; p.seqLen = L; p.channels = CD; p.kernelSize = K;
  p.state = st.data(); p.slots = slots.data(); p.cont = cont.data(); p.lengths = lengths.data();
  p.input = zx.data() + Di; p.inputStride = DIP; p.inputElem = elemOfT<TIn>();
  p.weight = w.data(); p.bias = bias.data(); p.out = out.data(); p.outElem = elemOfT<TOut>();
  p.nHeads = H; p.dtRaw = zx.data() + Di + CD; p.dtBias = dtBias.data(); p.dtMin = dtMin; p.dtMax = dtMax; p.dtOut = dt.data();
  launchConvPrefill(p, nullptr);
  {  // the per-channel kernel on the same data: bit for bit
    std::vector<TOut> out2(B * L * CD, fromF<TOut>(NAN));
    std::vector<float> dt2(B * L * H, NAN), st2 = state;
    ConvPrefillParams q = p;
    q.allowVector = false; q.out = out2.data(); q.dtOut = dt2.data(); q.state = st2.data();
    launchConvPrefill(q, nullptr);
    const bool same = std::memcmp(out.data(), out2.data(), out.size() * sizeof(TOut)) == 0 &&
                      std::memcmp(dt.data(), dt2.data(), dt.size() * 4) == 0 && st == st2;
    check(same, alignedRows ? "  vector == per-channel (bits)" : "  per-channel twice (bits)", 0);
  }
  // Reference.
  double maxErr = 0, maxRef = 0, dtErr = 0;
  bool stateOk = true;
  std::vector<float> refState = state;
  for (int b = 0; b < B; ++b) {
    const int slot = slots[b], len = lengths[b];
    auto raw = [&](int c, int tau) -> double {
      if (tau >= 0) return toF(zx[(b * L + tau) * DIP + Di + c]);
      if (slot >= 0 && cont[b] && tau >= -K) return state[(slot * CD + c) * K + K + tau];
      return 0.0;
    };
    for (int t = 0; t < L; ++t)
      for (int c = 0; c < CD; ++c) {
        double acc = bias[c];
        for (int k = 0; k < K; ++k) acc += w[c * K + k] * raw(c, t - (K - 1) + k);
        const double ref = acc / (1 + std::exp(-acc));
        maxErr = std::max(maxErr, std::abs(ref - toF(out[(b * L + t) * CD + c])));
        if (std::isnan(toF(out[(b * L + t) * CD + c]))) maxErr = INFINITY;
        maxRef = std::max(maxRef, std::abs(ref));
      }
    for (int t = 0; t < L; ++t)
      for (int h = 0; h < H; ++h) {
        double ref = 0;
        if (t < len) ref = std::min<double>(std::max<double>(softplusD(toF(zx[(b * L + t) * DIP + Di + CD + h]) + dtBias[h]), dtMin), dtMax);
        const double got = dt[(b * L + t) * H + h];
        dtErr = std::max(dtErr, std::isnan(got) ? INFINITY : std::abs(ref - got) / std::max(1e-3, std::abs(ref)));
      }
    for (int c = 0; c < CD; ++c)
      for (int k = 0; k < K; ++k) refState[(slot * CD + c) * K + k] = static_cast<float>(raw(c, len - K + k));
  }
  for (size_t i = 0; i < st.size(); ++i) stateOk &= st[i] == refState[i];
  char what[128];
  std::snprintf(what, sizeof what, "conv N=%d G=%d K=%d in=%d out=%d", N, G, K, (int)elemOfT<TIn>(), (int)elemOfT<TOut>());
  const double tol = roundingTol<TOut>();
  check(maxErr / maxRef <= tol, what, maxErr / maxRef);
  check(dtErr <= 1e-5, "  dt", dtErr);
  check(stateOk, "  window", 0);
}

// mode: which SSD form runs (kOff: the chunked kernels; kForce: the sequential-chunk one, which
// the case asserts). Np > N: B and C blocks at that pitch, zeros past N (the model's layout).
// gate: the gated output (sequential only): v = y silu(z) times the weight, and the per-part sums of v^2.
// copy: how the sequential kernel stages its chunks (kAuto: cp.async on the emulated sm_80).
template <typename T, typename TS>
void ssdCase(int N, int G, int P, int Q, SsdSequential mode = SsdSequential::kOff, int Np = 0, bool gate = false,
             SsdStageCopy copy = SsdStageCopy::kAuto) {
  if (Np == 0) Np = N;
  const int B = 4, L = 300, H = 4, S = 8, Di = H * P, CD = Di + 2 * G * Np;
  const std::vector<int32_t> slots = {6, 1, 4, 2}, cont = {0, 1, 1, 0}, lengths = {1, 7, 129, 300};
  std::vector<T> xbc(B * L * CD);
  for (size_t i = 0; i < xbc.size(); ++i) {
    const int col = static_cast<int>(i % CD);
    xbc[i] = fromF<T>(col >= Di && (col - Di) % Np >= N ? 0.f : randn());
  }
  std::vector<float> dt(B * L * H), A(H), D(H);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < L; ++t)
      for (int h = 0; h < H; ++h) dt[(b * L + t) * H + h] = t < lengths[b] ? static_cast<float>(softplusD(randn() * 0.5 - 2.0)) : 0.f;
  for (auto& v : A) v = -std::exp(urand() * 3 - 2);
  for (auto& v : D) v = randn();
  std::vector<TS> state(S * H * P * N);
  for (auto& v : state) v = fromF<TS>(randn());
  std::vector<TS> st = state;
  std::vector<float> y(B * L * Di, NAN);
  // Gate operands: z in rows of a wider matrix (16-byte aligned rows), as in zxbcdt.
  const int zStride = Di + 24, parts = ssdGateParts(H, P);
  std::vector<T> z(B * L * zStride), gw(Di), gated(B * L * Di, fromF<T>(NAN));
  for (auto& v : z) v = fromF<T>(randn() * 2);
  for (auto& v : gw) v = fromF<T>(1 + 0.3f * randn());
  std::vector<float> sumSq(B * L * parts, NAN);
  SsdPrefillParams p;
  p.batch = B; p.seqLen = L; p.nHeads = H; p.headDim = P; p.nGroups = G; p.stateSize = N; p.chunkSize = Q;
  p.state = st.data(); p.stateElem = elemOfT<TS>(); p.slots = slots.data(); p.cont = cont.data(); p.lengths = lengths.data();
  p.xbc = xbc.data(); p.elem = elemOfT<T>(); p.dt = dt.data(); p.A = A.data(); p.D = D.data(); p.y = y.data();
  p.statePitch = Np;
  p.sequential = mode;
  p.stageCopy = copy;
  if (gate) {
    p.y = nullptr; p.gateZ = z.data(); p.gateZStride = zStride; p.gateWeight = gw.data(); p.gated = gated.data();
    p.gateSumSq = sumSq.data();
  }
  check(ssdPrefillSequential(p) == (mode == SsdSequential::kForce), mode == SsdSequential::kForce ? "  sequential-chunk form runs" : "  chunked form runs", 0);
  SsdPrefillWorkspace ws = ssdPrefillWorkspace(p);
  std::vector<float> w1(ws.chunkStates, NAN), w3(ws.chunkLogDecay, NAN), w4(ws.cb, NAN);
  std::vector<T> w2(ws.chunkInit, fromF<T>(NAN));
  p.chunkStates = w1.data(); p.chunkInit = w2.data(); p.chunkLogDecay = w3.data(); p.cb = w4.data();
  launchSsdPrefill(p, nullptr);
  double yErr = 0, yRef = 0, sErr = 0, sRef = 0, ssErr = 0;
  bool padOk = true, othersOk = true;
  std::vector<double> ss(B * L * parts, 0.0);  // reference sums of v^2 per part (gate)
  auto silu = [](double v) { return v / (1 + std::exp(-v)); };
  for (int b = 0; b < B; ++b) {
    const int slot = slots[b], len = lengths[b];
    for (int h = 0; h < H; ++h) {
      const int g = h / (H / G);
      std::vector<double> Sm(P * N, 0.0);
      if (cont[b]) for (int i = 0; i < P * N; ++i) Sm[i] = toF(state[(slot * H + h) * P * N + i]);
      for (int t = 0; t < len; ++t) {
        const T* row = xbc.data() + (b * L + t) * CD;
        const double d = dt[(b * L + t) * H + h], a = std::exp(d * A[h]);
        for (int pp = 0; pp < P; ++pp) {
          const double xv = toF(row[h * P + pp]);
          double acc = 0;
          for (int n = 0; n < N; ++n) {
            double& s = Sm[pp * N + n];
            s = a * s + d * xv * toF(row[Di + g * Np + n]);
            acc += s * toF(row[Di + G * Np + g * Np + n]);
          }
          const int row = b * L + t, c = h * P + pp;
          double ref = acc + D[h] * xv, got = gate ? toF(gated[row * Di + c]) : y[row * Di + c];
          if (gate) {
            const double v = ref * silu(toF(z[row * zStride + c]));
            ss[row * parts + (h * ((P + 63) / 64) + pp / 64) * 2 + (pp % 64) / 32] += v * v;
            ref = v * toF(gw[c]);
          }
          yErr = std::max(yErr, std::isnan(got) ? INFINITY : std::abs(ref - got));
          yRef = std::max(yRef, std::abs(ref));
        }
      }
      for (int t = len; t < L; ++t)
        for (int pp = 0; pp < P; ++pp) padOk &= (gate ? toF(gated[(b * L + t) * Di + h * P + pp]) : y[(b * L + t) * Di + h * P + pp]) == 0.f;
      for (int i = 0; i < P * N; ++i) {
        const double got = toF(st[(slot * H + h) * P * N + i]);
        sErr = std::max(sErr, std::isnan(got) ? INFINITY : std::abs(got - Sm[i]));
        sRef = std::max(sRef, std::abs(Sm[i]));
      }
    }
  }
  for (int s = 0; s < S; ++s) {
    if (std::find(slots.begin(), slots.end(), s) != slots.end()) continue;
    for (int i = 0; i < H * P * N; ++i) othersOk &= toF(st[s * H * P * N + i]) == toF(state[s * H * P * N + i]);
  }
  double ssRef = 0;
  for (size_t i = 0; gate && i < ss.size(); ++i) {
    ssErr = std::max(ssErr, std::isnan(sumSq[i]) ? INFINITY : std::abs(sumSq[i] - ss[i]));
    ssRef = std::max(ssRef, ss[i]);
  }
  char what[160];
  std::snprintf(what, sizeof what, "ssd N=%d Np=%d G=%d P=%d Q=%d T=%d state=%d seq=%d gate=%d", N, Np, G, P, Q,
                (int)elemOfT<T>(), (int)elemOfT<TS>(), (int)mode, (int)gate);
  const double tol = std::is_same_v<T, float> ? 1e-5 : std::is_same_v<T, __half> ? 5e-3 : 3e-2;
  check(yErr / yRef <= tol, what, yErr / yRef);
  check(sErr / sRef <= std::max(tol, std::is_same_v<TS, float> ? 0.0 : 8e-3), "  final state", sErr / sRef);
  check(padOk, "  padding rows zero", 0);
  if (gate) check(ssErr / ssRef <= 2 * tol, "  gate sums of squares (padding rows 0)", ssErr / ssRef);
  check(othersOk, "  other slots untouched", 0);
}

}  // namespace

// Vector (16-byte rows) and per-channel forms, fp32/fp16/bf16 in and out, K = 1..6, N and G
// mixed; ragged lengths with history (windows mixing history and inputs).
TEST(KernelEmu, ConvPrefillMatchesReference) {
  convCase<__nv_bfloat16, __nv_bfloat16>(16, 1, 4, true);
  convCase<__nv_bfloat16, float>(20, 2, 4, true);
  convCase<float, float>(20, 1, 3, true);
  convCase<__half, __half>(64, 2, 2, true);
  convCase<float, float>(16, 1, 4);
  convCase<__nv_bfloat16, float>(20, 2, 4);
  convCase<__half, __half>(20, 1, 2);
  convCase<__nv_bfloat16, __nv_bfloat16>(16, 1, 6);
  convCase<float, float>(64, 1, 1);
}

// Chunk sizes 16..256 over 300 steps (several chunks, a partial last one), fresh and continued
// sequences, N from 7 to 130 (trimmed and full tiles), P not a multiple of 64, fp32/bf16 state.
TEST(KernelEmu, SsdPrefillMatchesReference) {
  ssdCase<float, float>(16, 1, 16, 64);
  ssdCase<float, float>(20, 2, 32, 128);
  ssdCase<float, float>(7, 1, 16, 16);
  ssdCase<float, __nv_bfloat16>(128, 2, 80, 100);
  ssdCase<__nv_bfloat16, float>(64, 1, 64, 256);
  ssdCase<__half, float>(20, 2, 32, 128);
  ssdCase<__nv_bfloat16, float>(130, 1, 16, 256);
}

// The sequential-chunk form (ssd_sequential.cuh: state in MMA accumulators, chunks of 64 walked
// in order) on the same reference: the production shape (N = 128, P = 64), groups with fp16
// operands and a bf16 pool, P = 80 (a second, 16-lane tile), and compacted N at the model's
// zero-padded pitch (12 of 16, 38 of 40).
TEST(KernelEmu, SsdPrefillSequentialMatchesReference) {
  // Both stagings: cp.async, and tile copies (sm_90's), whose boxes bring in what lies outside
  // the tile - rows past the length, x lanes past P = 80's second tile of 16, states from N
  // rounded up to 8 to N rounded up to 16 (N = 24, 38) - for the kernel to zero after the wait.
  for (const SsdStageCopy copy : {SsdStageCopy::kCpAsync, SsdStageCopy::kTensor}) {
    ssdCase<__nv_bfloat16, float>(128, 1, 64, 256, SsdSequential::kForce, 0, false, copy);
    ssdCase<__half, __nv_bfloat16>(64, 2, 64, 64, SsdSequential::kForce, 0, false, copy);
    ssdCase<__nv_bfloat16, float>(24, 1, 80, 256, SsdSequential::kForce, 0, false, copy);
    ssdCase<__nv_bfloat16, float>(12, 1, 64, 256, SsdSequential::kForce, 16, false, copy);
    ssdCase<__half, float>(38, 2, 64, 128, SsdSequential::kForce, 40, false, copy);
  }
}

// The sequential-chunk form's gated output (the row-local part of the gated RMSNorm fused into
// its epilogue): the production shape, P = 80 (a 16-lane tile: one half of its parts empty),
// a compacted N at its pitch, a bf16 pool.
TEST(KernelEmu, SsdPrefillSequentialGatedMatchesReference) {
  for (const SsdStageCopy copy : {SsdStageCopy::kCpAsync, SsdStageCopy::kTensor}) {
    ssdCase<__nv_bfloat16, float>(128, 1, 64, 256, SsdSequential::kForce, 0, true, copy);
    ssdCase<__nv_bfloat16, float>(24, 1, 80, 256, SsdSequential::kForce, 0, true, copy);
    ssdCase<__half, __nv_bfloat16>(38, 1, 64, 128, SsdSequential::kForce, 40, true, copy);
  }
}
