// The persistent small-batch decode (kernels/decode_persistent) on the CPU through the kernel
// emulator (label emu; see kernel_emu_test.cc), against a naive fp64 reference of spec §5 with
// the kernel's rounding points: per-layer N (one not a multiple of 4), norm groups whose width
// is and is not a multiple of 32, a padding row (slot -1), fp32 and bf16 weights. The whole
// launch runs on one block (its grid barriers are CTA barriers here); the same step split over
// three blocks, one phase per launch, must give the same bits (the row split does not change
// any sum).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/common/device_info.h"
#include "kernels/decode_persistent/decode_persistent.h"
#include "kernels/decode_persistent/decode_persistent_layout.cuh"
#include "tests/kernels/emu/emu_test_util.h"

namespace mamba::kernels {
// The emulated device: one SM (so launchPersistentDecode runs one block), sm_90 shared memory.
DeviceInfo currentDeviceInfo() {
  DeviceInfo d;
  d.major = 9;
  d.sms = 1;
  d.smemOptin = 232448;
  d.smemPerSm = 233472;
  return d;
}
}  // namespace mamba::kernels

namespace {

using namespace mamba::kernels;  // NOLINT: test-local
using namespace emu_test;        // NOLINT: test-local

struct Shape {
  int Dm = 32, Di = 64, H = 4, P = 16, G = 2, Kc = 4, B = 3, S = 5;
  std::vector<int> N = {8, 5};
  bool bias = true;
};

template <typename T>
struct Layer {
  std::vector<T> norm, inProj, inBias, gatedNorm, outProj, outBias;
  std::vector<float> convW, convB, dtBias, A, D, convState, ssmState;
};

template <typename T>
double rd(double v) {  // round to T, as the kernel stores its intermediate outputs
  return toF(fromF<T>(static_cast<float>(v)));
}

template <typename T>
Layer<T> makeLayer(const Shape& s, int N) {
  const int CD = s.Di + 2 * s.G * N, DIP = 2 * s.Di + 2 * s.G * N + s.H;
  Layer<T> l;
  auto fill = [](std::vector<T>& v, size_t n, float scale, float offset = 0.f) {
    v.resize(n);
    for (auto& x : v) x = fromF<T>(offset + scale * randn());
  };
  fill(l.norm, s.Dm, 0.2f, 1.f);
  fill(l.inProj, static_cast<size_t>(DIP) * s.Dm, 0.2f);
  if (s.bias) fill(l.inBias, DIP, 0.1f);
  fill(l.gatedNorm, s.Di, 0.2f, 1.f);
  fill(l.outProj, static_cast<size_t>(s.Dm) * s.Di, 0.2f);
  if (s.bias) fill(l.outBias, s.Dm, 0.1f);
  l.convW.resize(static_cast<size_t>(CD) * s.Kc);
  for (auto& x : l.convW) x = 0.5f * randn();
  l.convB.resize(CD);
  for (auto& x : l.convB) x = 0.1f * randn();
  for (int h = 0; h < s.H; ++h) {
    l.dtBias.push_back(urand() - 3.f);
    l.A.push_back(-1.f - 4.f * urand());
    l.D.push_back(1.f + 0.1f * randn());
  }
  l.convState.resize(static_cast<size_t>(s.S) * CD * s.Kc);
  for (auto& x : l.convState) x = randn();
  l.ssmState.resize(static_cast<size_t>(s.S) * s.H * s.P * N);
  for (auto& x : l.ssmState) x = randn();
  return l;
}

// One decode step of every layer in fp64 with the kernel's rounding points; residual, conv and
// SSM states advanced in place.
template <typename T>
void reference(const Shape& s, std::vector<Layer<T>>& layers, const std::vector<int32_t>& slots,
               std::vector<double>& residual) {
  const double eps = 1e-5;
  for (size_t li = 0; li < layers.size(); ++li) {
    Layer<T>& l = layers[li];
    const int N = s.N[li], CD = s.Di + 2 * s.G * N, DIP = 2 * s.Di + 2 * s.G * N + s.H, gs = s.Di / s.G;
    for (int b = 0; b < s.B; ++b) {
      double* res = residual.data() + static_cast<size_t>(b) * s.Dm;
      double ss = 0;
      for (int k = 0; k < s.Dm; ++k) ss += res[k] * res[k];
      const double rstd = 1 / std::sqrt(ss / s.Dm + eps);
      std::vector<double> u(s.Dm), zx(DIP);
      for (int k = 0; k < s.Dm; ++k) u[k] = rd<T>(res[k] * rstd * toF(l.norm[k]));
      for (int i = 0; i < DIP; ++i) {
        double acc = s.bias ? toF(l.inBias[i]) : 0;
        for (int k = 0; k < s.Dm; ++k) acc += toF(l.inProj[static_cast<size_t>(i) * s.Dm + k]) * u[k];
        zx[i] = rd<T>(acc);
      }
      const int slot = slots[b];
      std::vector<double> xbc(CD, 0.0), yg(s.Di, 0.0);
      if (slot >= 0) {
        for (int c = 0; c < CD; ++c) {
          float* st = l.convState.data() + (static_cast<size_t>(slot) * CD + c) * s.Kc;
          for (int k = 0; k + 1 < s.Kc; ++k) st[k] = st[k + 1];
          st[s.Kc - 1] = static_cast<float>(zx[s.Di + c]);
          double acc = l.convB[c];
          for (int k = 0; k < s.Kc; ++k) acc += static_cast<double>(st[k]) * l.convW[static_cast<size_t>(c) * s.Kc + k];
          xbc[c] = siluD(acc);
        }
        for (int h = 0; h < s.H; ++h) {
          const double dt = softplusD(zx[2 * s.Di + 2 * s.G * N + h] + l.dtBias[h]);
          const int g = h / (s.H / s.G);
          for (int p = 0; p < s.P; ++p) {
            const double x = xbc[h * s.P + p];
            float* st = l.ssmState.data() + ((static_cast<size_t>(slot) * s.H + h) * s.P + p) * N;
            double y = l.D[h] * x;
            for (int n = 0; n < N; ++n) {
              const double v = st[n] * std::exp(dt * l.A[h]) + dt * x * xbc[s.Di + g * N + n];
              st[n] = static_cast<float>(v);
              y += v * xbc[s.Di + s.G * N + g * N + n];
            }
            yg[h * s.P + p] = y * siluD(zx[h * s.P + p]);
          }
        }
      }
      std::vector<double> v(s.Di);
      for (int g = 0; g < s.G; ++g) {
        double q = 0;
        for (int k = g * gs; k < (g + 1) * gs; ++k) q += yg[k] * yg[k];
        const double r = 1 / std::sqrt(q / gs + eps);
        for (int k = g * gs; k < (g + 1) * gs; ++k) v[k] = rd<T>(yg[k] * r * toF(l.gatedNorm[k]));
      }
      for (int j = 0; j < s.Dm; ++j) {
        double acc = s.bias ? toF(l.outBias[j]) : 0;
        for (int k = 0; k < s.Di; ++k) acc += toF(l.outProj[static_cast<size_t>(j) * s.Di + k]) * v[k];
        res[j] += rd<T>(acc);
      }
    }
  }
}

template <typename T>
PersistentDecodeParams paramsFor(const Shape& s, std::vector<Layer<T>>& layers, const std::vector<int32_t>& slots,
                                 float* residual, float* workspace, unsigned* barrier) {
  PersistentDecodeParams p;
  p.batch = s.B;
  p.nLayers = static_cast<int>(layers.size());
  p.dModel = s.Dm;
  p.dInner = s.Di;
  p.nHeads = s.H;
  p.headDim = s.P;
  p.nGroups = s.G;
  p.convKernel = s.Kc;
  p.elem = elemOfT<T>();
  p.eps = 1e-5f;
  p.slots = slots.data();
  p.residual = residual;
  p.workspace = workspace;
  p.barrier = barrier;
  for (size_t i = 0; i < layers.size(); ++i) {
    Layer<T>& l = layers[i];
    PersistentDecodeLayer& y = p.layers[i];
    y.norm = l.norm.data();
    y.inProj = l.inProj.data();
    y.inProjBias = s.bias ? l.inBias.data() : nullptr;
    y.convState = l.convState.data();
    y.convWeight = l.convW.data();
    y.convBias = l.convB.data();
    y.ssmState = l.ssmState.data();
    y.dtBias = l.dtBias.data();
    y.A = l.A.data();
    y.D = l.D.data();
    y.gatedNorm = l.gatedNorm.data();
    y.outProj = l.outProj.data();
    y.outProjBias = s.bias ? l.outBias.data() : nullptr;
    y.stateSize = s.N[i];
  }
  return p;
}

double relErr(const std::vector<float>& got, const std::vector<double>& ref) {
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < ref.size(); ++i) {
    err = std::max(err, std::isnan(got[i]) ? INFINITY : std::abs(got[i] - ref[i]));
    scale = std::max(scale, std::abs(ref[i]));
  }
  return err / scale;
}
std::vector<double> toDouble(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

template <typename T>
void persistentCase(const Shape& s, double tol) {
  std::vector<Layer<T>> layers;
  for (int n : s.N) layers.push_back(makeLayer<T>(s, n));
  std::vector<Layer<T>> stepped = layers, ref = layers;
  const std::vector<int32_t> slots = {3, -1, 0};
  std::vector<float> residual(static_cast<size_t>(s.B) * s.Dm);
  for (auto& x : residual) x = randn();
  std::vector<float> residual3 = residual;
  std::vector<double> refRes = toDouble(residual);
  std::vector<unsigned> barrier(kGridBarrierWords, 0u);

  PersistentDecodeParams p = paramsFor(s, layers, slots, residual.data(), nullptr, barrier.data());
  std::vector<float> work(static_cast<size_t>(persistentDecodeWorkspaceFloats(p)), NAN);
  p.workspace = work.data();
  ASSERT_EQ(persistentDecodeConfig(p).why, "");
  launchPersistentDecode(p, nullptr);  // one block: all 3 L steps in one launch

  PersistentDecodeParams q = paramsFor(s, stepped, slots, residual3.data(), nullptr, barrier.data());
  std::vector<float> work3(work.size(), NAN);
  q.workspace = work3.data();
  const int64_t smem = persistent::layoutOf(q, 3, sizeof(T)).total;
  for (int step = 0; step < 3 * q.nLayers; ++step) launchPersistentDecodeTyped<T>(q, 3, smem, step, step + 1, nullptr);

  reference<T>(s, ref, slots, refRes);
  EXPECT_LE(relErr(residual, refRes), tol) << "residual";
  EXPECT_EQ(std::memcmp(residual.data(), residual3.data(), residual.size() * 4), 0) << "3 blocks, step by step";
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_LE(relErr(layers[i].convState, toDouble(ref[i].convState)), tol) << "conv state " << i;
    EXPECT_LE(relErr(layers[i].ssmState, toDouble(ref[i].ssmState)), tol) << "ssm state " << i;
    EXPECT_EQ(layers[i].ssmState, stepped[i].ssmState) << "ssm state " << i << ", 3 blocks";
    EXPECT_EQ(layers[i].convState, stepped[i].convState) << "conv state " << i << ", 3 blocks";
  }
  // The padding row's slot (-1) touched no state: slots 1, 2 and 4 are as they started.
  for (size_t i = 0; i < layers.size(); ++i) {
    const size_t per = layers[i].ssmState.size() / static_cast<size_t>(s.S);
    for (int slot : {1, 2, 4}) {
      EXPECT_TRUE(std::equal(layers[i].ssmState.begin() + slot * per, layers[i].ssmState.begin() + (slot + 1) * per,
                             ref[i].ssmState.begin() + slot * per))
          << "untouched slot " << slot;
    }
  }
}

TEST(KernelEmuPersistentDecode, MatchesReferenceFp32) { persistentCase<float>(Shape{}, 1e-4); }

TEST(KernelEmuPersistentDecode, MatchesReferenceBf16NarrowGroups) {
  Shape s;
  s.G = 4;  // group width 16: the one-warp-per-group norm
  s.bias = false;
  persistentCase<__nv_bfloat16>(s, 5e-2);
}

}  // namespace
