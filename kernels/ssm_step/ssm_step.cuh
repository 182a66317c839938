// Kernel of launchSsmStep (ssm_step.h). Grid (sequence, head, row block): each warp owns one
// head lane p (a row of N states), its lanes stride over the row (coalesced, independent
// loads), and a warp reduction forms y[p]. Many small blocks keep every SM busy even at
// batch 1, where the step is latency-bound. B and C of the group are staged in shared memory.
#pragma once

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/ssm_step/ssm_step.h"

namespace mamba::kernels {

constexpr int kSsmStepThreads = 128;  // 4 warps = 4 rows per block
constexpr int kSsmStepRows = kSsmStepThreads / 32;

template <typename TDt>
__global__ void ssmStepKernel(SsmStepParams p) {
  extern __shared__ float smem[];  // B (N) then C (N)
  const int b = blockIdx.x, h = blockIdx.y;
  const int i = blockIdx.z * kSsmStepRows + threadIdx.x / 32;  // head lane of this warp
  const int N = p.stateSize, P = p.headDim;
  const int g = h / (p.nHeads / p.nGroups);
  const int slot = p.slots[b];
  const float* row = p.xbc + b * p.xbcStride;
  float* Bs = smem;
  float* Cs = smem + N;
  for (int n = threadIdx.x; n < N; n += blockDim.x) {
    Bs[n] = row[p.dInner + g * N + n];
    Cs[n] = row[p.dInner + p.nGroups * N + g * N + n];
  }
  __syncthreads();
  const TDt* dtRow = static_cast<const TDt*>(p.dtRaw) + b * p.dtStride;
  float dt = softplus(toFloat(dtRow[h]) + p.dtBias[h]);
  dt = fminf(fmaxf(dt, p.dtMin), p.dtMax);
  const float dA = __expf(dt * p.A[h]);
  const int lane = threadIdx.x % 32;
  if (i >= P) return;
  float* y = p.y + b * p.dInner + h * P;
  const float x = row[h * P + i];
  if (slot < 0) {
    if (lane == 0) y[i] = 0.f;
    return;
  }
  float* s = p.state + ((static_cast<int64_t>(slot) * p.nHeads + h) * P + i) * N;
  const float dx = dt * x;
  float acc = 0.f;
#pragma unroll 4
  for (int n = lane; n < N; n += 32) {
    const float v = s[n] * dA + dx * Bs[n];
    s[n] = v;
    acc += v * Cs[n];
  }
  acc = warpSum(acc);
  if (lane == 0) y[i] = acc + p.D[h] * x;
}

template <typename TDt>
void launchSsmStepTyped(const SsmStepParams& p, Stream stream) {
  if (p.batch == 0) return;
  dim3 grid(p.batch, p.nHeads, (p.headDim + kSsmStepRows - 1) / kSsmStepRows);
  const size_t smem = 2 * static_cast<size_t>(p.stateSize) * sizeof(float);
  ssmStepKernel<TDt><<<grid, kSsmStepThreads, smem, static_cast<cudaStream_t>(stream)>>>(p);
  MAMBA_CUDA_CHECK_LAUNCH();
}

}  // namespace mamba::kernels
