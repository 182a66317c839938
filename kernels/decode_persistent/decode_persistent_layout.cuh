// Launch geometry of the persistent decode (decode_persistent.h), shared by the host launcher
// and the kernel: per-layer row counts, the shared-memory carve-up and the workspace carve-up.
#pragma once

#include <cstdint>

#include "kernels/common/cuda_check.cuh"
#include "kernels/decode_persistent/decode_persistent.h"

namespace mamba::kernels {
namespace persistent {

constexpr int kThreads = 256;
constexpr int kMaxNormPairs = 64;  // batch rows x norm groups (persistentDecodeConfig checks)

__host__ __device__ inline int ceilDiv(int a, int b) { return (a + b - 1) / b; }

// Per-launch sizes that do not depend on the layer, and the shared-memory carve-up (bytes).
// Every staged vector gets 8 spare bytes: stageWords copies whole aligned words around it.
struct Layout {
  int dipMax = 0, nMax = 0, cdMax = 0;         // over the layers
  int rowsIn = 0, rowsState = 0, rowsOut = 0;  // per CTA: in_proj rows (at dipMax), state rows, out_proj rows
  // W_in group: in_proj rows, norm weight, in_proj bias rows, conv weight/bias rows, dt bias.
  int64_t wIn = 0, norm = 0, inBias = 0, convW = 0, convB = 0, dtBias = 0;
  // S group: the state rows, and per batch row the conv windows of the CTA's channels.
  int64_t state = 0, convWin = 0, convWinPerRow = 0;
  // W_out group: out_proj rows, gated-norm weight, out_proj bias rows, A, D.
  int64_t wOut = 0, gatedNorm = 0, outBias = 0, aVec = 0, dVec = 0;
  // Not staged: activations, B and C rows, per-state-row x/z/dt, the CTA's residual columns, slots.
  int64_t act = 0, bc = 0, rowData = 0, resOwn = 0, stats = 0, slots = 0, total = 0;
};

__host__ __device__ inline int dipOf(const PersistentDecodeParams& p, int n) {
  return 2 * p.dInner + 2 * p.nGroups * n + p.nHeads;
}

__host__ __device__ inline Layout layoutOf(const PersistentDecodeParams& p, int grid, int elemBytes) {
  Layout L;
  for (int l = 0; l < p.nLayers; ++l) L.nMax = max(L.nMax, p.layers[l].stateSize);
  L.dipMax = dipOf(p, L.nMax);
  L.cdMax = p.dInner + 2 * p.nGroups * L.nMax;
  L.rowsIn = ceilDiv(L.dipMax, grid);
  L.rowsState = ceilDiv(p.batch * p.nHeads * p.headDim, grid);
  L.rowsOut = ceilDiv(p.dModel, grid);
  auto up16 = [](int64_t v) { return (v + 15) / 16 * 16; };
  auto vec = [&](int64_t bytes) { return up16(bytes + 8); };
  const int64_t Kc = p.convKernel, H = p.nHeads;
  L.wIn = up16(static_cast<int64_t>(L.rowsIn) * p.dModel * elemBytes);
  L.norm = vec(static_cast<int64_t>(p.dModel) * elemBytes);
  L.inBias = vec(static_cast<int64_t>(L.rowsIn) * elemBytes);
  L.convW = vec(L.rowsIn * Kc * 4);
  L.convB = vec(L.rowsIn * 4);
  L.dtBias = vec(H * 4);
  L.state = up16(static_cast<int64_t>(L.rowsState) * L.nMax * 4);
  L.convWinPerRow = vec(L.rowsIn * Kc * 4);
  L.convWin = p.batch * L.convWinPerRow;
  L.wOut = up16(static_cast<int64_t>(L.rowsOut) * p.dInner * elemBytes);
  L.gatedNorm = vec(static_cast<int64_t>(p.dInner) * elemBytes);
  L.outBias = vec(static_cast<int64_t>(L.rowsOut) * elemBytes);
  L.aVec = vec(H * 4);
  L.dVec = vec(H * 4);
  L.act = up16(static_cast<int64_t>(p.batch) * max(p.dModel, p.dInner) * 4);
  L.bc = up16(static_cast<int64_t>(p.batch) * 2 * p.nGroups * L.nMax * 4);
  L.rowData = up16(static_cast<int64_t>(L.rowsState) * 3 * 4);
  L.resOwn = up16(static_cast<int64_t>(p.batch) * L.rowsOut * 4);
  L.stats = up16((kThreads / 32 + 1) * kMaxNormPairs * 4);
  L.slots = up16(kPersistentDecodeMaxBatch * 4);
  L.total = L.wIn + L.norm + L.inBias + L.convW + L.convB + L.dtBias + L.state + L.convWin + L.wOut + L.gatedNorm +
            L.outBias + L.aVec + L.dVec + L.act + L.bc + L.rowData + L.resOwn + L.stats + L.slots;
  return L;
}

// Workspace carve-up (floats, each part a multiple of 4 so that all start 16-byte aligned): z
// (B, Di), xbc (B, cdMax), dt (B, H), yg (B, Di).
struct Work {
  float *z, *xbc, *dt, *yg;
};
__host__ __device__ inline int64_t up4(int64_t v) { return (v + 3) / 4 * 4; }
__host__ __device__ inline Work workOf(const PersistentDecodeParams& p, const Layout& L) {
  Work w;
  w.z = p.workspace;
  w.xbc = w.z + up4(static_cast<int64_t>(p.batch) * p.dInner);
  w.dt = w.xbc + up4(static_cast<int64_t>(p.batch) * L.cdMax);
  w.yg = w.dt + up4(static_cast<int64_t>(p.batch) * p.nHeads);
  return w;
}
__host__ __device__ inline int64_t workFloats(const PersistentDecodeParams& p, const Layout& L) {
  return 2 * up4(static_cast<int64_t>(p.batch) * p.dInner) + up4(static_cast<int64_t>(p.batch) * L.cdMax) +
         up4(static_cast<int64_t>(p.batch) * p.nHeads);
}

}  // namespace persistent

// Launches steps [firstStep, lastStep) on `grid` CTAs (co-resident: a cooperative launch when
// more than one step runs); the caller checked p (persistentDecodeConfig). Step 3 l + k is
// phase k + 1 of layer l; the CPU emulator's tests launch one step at a time.
template <typename T>
void launchPersistentDecodeTyped(const PersistentDecodeParams& p, int grid, int64_t smem, int firstStep, int lastStep,
                                 Stream stream);

}  // namespace mamba::kernels
