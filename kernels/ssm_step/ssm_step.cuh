// Kernel of launchSsmStep (ssm_step.h).
//
// Bandwidth-bound at serving batch sizes (the fp32 state is read and written once per step), so
// the layout is chosen for bytes in flight: a "team" of T threads (a power of two <= 32) owns
// one state row (b, h, p) of N values, each thread VEC consecutive values per load (16-byte
// loads for fp32 when N % 4 == 0), so T = nextPow2(ceil(N / VEC)) and small compacted N packs
// several rows into one warp instead of idling lanes. A team walks kRowsPerTeam rows of the
// head with every load issued before any use. B and C of the group stay in registers (loaded
// once per thread straight from the L2-resident xbc row; no shared memory, no block barrier).
// y[p] is a shuffle reduction inside the team. Each thread holds VECS vectors per row pass
// (1 when a row fits one pass of a team, else 4); longer rows loop over passes.
#pragma once

#include <algorithm>
#include <type_traits>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/launch.cuh"
#include "kernels/common/dispatch.cuh"
#include "kernels/ssm_step/ssm_step.h"

namespace mamba::kernels {

constexpr int kSsmStepThreads = 128;
constexpr int kSsmRowsPerTeam = 4;  // rows of one team in flight together

// VEC consecutive state values <-> float.
template <typename TState, int VEC> struct StateVec;
template <> struct StateVec<float, 4> {
  __device__ static void load(const float* p, float* v) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x; v[1] = t.y; v[2] = t.z; v[3] = t.w;
  }
  __device__ static void store(float* p, const float* v) { *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]); }
};
template <> struct StateVec<float, 1> {
  __device__ static void load(const float* p, float* v) { v[0] = *p; }
  __device__ static void store(float* p, const float* v) { *p = v[0]; }
};
template <> struct StateVec<__nv_bfloat16, 4> {
  __device__ static void load(const __nv_bfloat16* p, float* v) {
    const uint2 t = *reinterpret_cast<const uint2*>(p);
    const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&t.x));
    const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&t.y));
    v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
  }
  __device__ static void store(__nv_bfloat16* p, const float* v) {
    __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]), b = __floats2bfloat162_rn(v[2], v[3]);
    uint2 t;
    t.x = *reinterpret_cast<const unsigned*>(&a);
    t.y = *reinterpret_cast<const unsigned*>(&b);
    *reinterpret_cast<uint2*>(p) = t;
  }
};
template <> struct StateVec<__nv_bfloat16, 1> {
  __device__ static void load(const __nv_bfloat16* p, float* v) { v[0] = __bfloat162float(*p); }
  __device__ static void store(__nv_bfloat16* p, const float* v) { *p = __float2bfloat16_rn(v[0]); }
};

template <int VEC>
__device__ __forceinline__ void loadF32(const float* p, float* v) { StateVec<float, VEC>::load(p, v); }

// Grid (sequence, head, row block). `teamBits` = log2(T).
//
// The state slot is written only by this layer's previous step (or its prefill), at least two
// kernels back in the stream, so under PDL its first pass is loaded BEFORE pdlEnter: those loads
// overlap the tail of the in_proj kernel this step waits for (launch.cuh: a kernel that has
// started implies every kernel two back has completed). Nothing is written before pdlEnter.
template <typename TDt, typename TState, int VEC, int VECS>
__global__ void __launch_bounds__(kSsmStepThreads) ssmStepKernel(SsmStepParams p, int teamBits) {
  const int b = blockIdx.x, h = blockIdx.y;
  const int T = 1 << teamBits;
  const int t = threadIdx.x & (T - 1);             // thread within its team
  const int team = threadIdx.x >> teamBits;        // team within the block
  const int teamsPerBlock = kSsmStepThreads >> teamBits;
  const int N = p.stateSize, P = p.headDim;
  const int g = h / (p.nHeads / p.nGroups);
  const int slot = p.slots[b];
  const int rowBase = blockIdx.z * teamsPerBlock * kSsmRowsPerTeam;
  constexpr int kPass = VECS * VEC;  // values per thread per pass
  TState* headState = static_cast<TState*>(p.state) + (static_cast<int64_t>(max(slot, 0)) * p.nHeads + h) * P * N;
  // State values of this thread's rows for the pass starting at `base`.
  float s[kSsmRowsPerTeam][VECS][VEC];
  auto loadState = [&](int base) {
#pragma unroll
    for (int k = 0; k < kSsmRowsPerTeam; ++k) {
      const int i = rowBase + team + k * teamsPerBlock;
#pragma unroll
      for (int j = 0; j < VECS; ++j) {
        const int n = base + (j * T + t) * VEC;
        if (i < P && n < N) StateVec<TState, VEC>::load(headState + static_cast<int64_t>(i) * N + n, s[k][j]);
      }
    }
  };
  if (slot >= 0) loadState(0);
  pdlEnter();
  const float* row = p.xbc + b * p.xbcStride;
  float* y = p.y + static_cast<int64_t>(b) * p.dInner + h * P;
  if (slot < 0) {  // padding row: uniform over the block
    for (int r = threadIdx.x; r < teamsPerBlock * kSsmRowsPerTeam; r += kSsmStepThreads) {
      if (rowBase + r < P) y[rowBase + r] = 0.f;
    }
    return;
  }
  const TDt* dtRow = static_cast<const TDt*>(p.dtRaw) + b * p.dtStride;
  float dt = softplus(toFloat(dtRow[h]) + p.dtBias[h]);
  dt = fminf(fmaxf(dt, p.dtMin), p.dtMax);
  const float dA = __expf(dt * p.A[h]);
  const float Dh = p.D[h];
  const float* Bg = row + p.dInner + g * N;
  const float* Cg = row + p.dInner + p.nGroups * N + g * N;

  // Rows of this team: rowBase + team + k * teamsPerBlock, k < kSsmRowsPerTeam.
  float acc[kSsmRowsPerTeam];
  float xs[kSsmRowsPerTeam];
#pragma unroll
  for (int k = 0; k < kSsmRowsPerTeam; ++k) {
    const int i = rowBase + team + k * teamsPerBlock;
    acc[k] = 0.f;
    xs[k] = i < P ? row[h * P + i] : 0.f;
  }
  for (int base = 0; base < N; base += T * kPass) {
    float Bv[VECS][VEC], Cv[VECS][VEC];
#pragma unroll
    for (int j = 0; j < VECS; ++j) {
      const int n = base + (j * T + t) * VEC;
      if (n < N) {
        loadF32<VEC>(Bg + n, Bv[j]);
        loadF32<VEC>(Cg + n, Cv[j]);
      }
    }
    if (base > 0) loadState(base);
#pragma unroll
    for (int k = 0; k < kSsmRowsPerTeam; ++k) {
      const int i = rowBase + team + k * teamsPerBlock;
      const float dx = dt * xs[k];
#pragma unroll
      for (int j = 0; j < VECS; ++j) {
        const int n = base + (j * T + t) * VEC;
        if (i < P && n < N) {
#pragma unroll
          for (int v = 0; v < VEC; ++v) {
            s[k][j][v] = s[k][j][v] * dA + dx * Bv[j][v];
            acc[k] += s[k][j][v] * Cv[j][v];
          }
          StateVec<TState, VEC>::store(headState + static_cast<int64_t>(i) * N + n, s[k][j]);
        }
      }
    }
  }
#pragma unroll
  for (int k = 0; k < kSsmRowsPerTeam; ++k) {
    float v = acc[k];
    for (int o = T / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    const int i = rowBase + team + k * teamsPerBlock;
    if (t == 0 && i < P) y[i] = v + Dh * xs[k];
  }
}

template <typename TDt, typename TState, int VEC>
void launchSsmStepShaped(const SsmStepParams& p, Stream stream) {
  const int vecs = (p.stateSize + VEC - 1) / VEC;
  int teamBits = 0;
  while ((1 << teamBits) < vecs && teamBits < 5) ++teamBits;
  const int rowsPerBlock = (kSsmStepThreads >> teamBits) * kSsmRowsPerTeam;
  dim3 grid(p.batch, p.nHeads, (p.headDim + rowsPerBlock - 1) / rowsPerBlock);
  auto s = static_cast<cudaStream_t>(stream);
  auto launch = [&](auto kernel) { launchKernel(kernel, grid, dim3(kSsmStepThreads), 0, s, p, teamBits); };
  if (vecs <= 32) {
    launch(ssmStepKernel<TDt, TState, VEC, 1>);
  } else {
    launch(ssmStepKernel<TDt, TState, VEC, 4>);
  }
}

// Flat variant for rows that are not 16-byte aligned (N % 4 != 0, e.g. a compacted N = 115):
// the (P, N) state of one head is a single contiguous run of P*N values, so it is still read
// and written with 16-byte (fp32) / 8-byte (bf16) vectors that ignore row boundaries. Each
// vector finds its (p, n) by division; B, C and x sit in shared memory. Consecutive lanes hold
// consecutive vectors, so a row's partial dot products are summed by a segmented warp
// reduction (rows are contiguous runs of lanes) and reach y[p] with at most two shared-memory
// atomics per row and warp. One block per (sequence, head, chunk of rowsPerBlock rows):
// rowsPerBlock is a multiple of 4, so every chunk starts on a vector boundary and no vector
// straddles two blocks; small batches split a head over several blocks (at batch 1 the 24
// heads of the 130m shape would otherwise be 24 blocks, each a serial chain of state loads).
// Needs P*N % 4 == 0 and N >= 4.
constexpr int kSsmFlatThreads = 256;
constexpr int kSsmFlatUnroll = 4;  // vectors per thread in flight

template <typename TDt, typename TState>
__global__ void __launch_bounds__(kSsmFlatThreads) ssmStepFlatKernel(SsmStepParams p, int rowsPerBlock) {
  pdlEnter();
  extern __shared__ float smem[];  // B (N), C (N), x (P), y (P); x and y only rows [p0, p1)
  const int b = blockIdx.x, h = blockIdx.y;
  const int N = p.stateSize, P = p.headDim;
  const int p0 = static_cast<int>(blockIdx.z) * rowsPerBlock, p1 = min(P, p0 + rowsPerBlock);
  const int g = h / (p.nHeads / p.nGroups);
  const int slot = p.slots[b];
  const int lane = threadIdx.x % 32;
  float* y = p.y + static_cast<int64_t>(b) * p.dInner + h * P;
  if (slot < 0) {
    for (int i = p0 + threadIdx.x; i < p1; i += blockDim.x) y[i] = 0.f;
    return;
  }
  const float* row = p.xbc + b * p.xbcStride;
  float* Bs = smem;
  float* Cs = Bs + N;
  float* xs = Cs + N;
  float* ys = xs + P;
  for (int n = threadIdx.x; n < N; n += blockDim.x) {
    Bs[n] = row[p.dInner + g * N + n];
    Cs[n] = row[p.dInner + p.nGroups * N + g * N + n];
  }
  for (int i = p0 + threadIdx.x; i < p1; i += blockDim.x) {
    xs[i] = row[h * P + i];
    ys[i] = 0.f;
  }
  __syncthreads();
  const TDt* dtRow = static_cast<const TDt*>(p.dtRaw) + b * p.dtStride;
  float dt = softplus(toFloat(dtRow[h]) + p.dtBias[h]);
  dt = fminf(fmaxf(dt, p.dtMin), p.dtMax);
  const float dA = __expf(dt * p.A[h]);
  TState* headState = static_cast<TState*>(p.state) + (static_cast<int64_t>(slot) * p.nHeads + h) * P * N;
  // This block's vectors: rows [p0, p1) (p0 * N and p1 * N are multiples of 4).
  const int vBegin = p0 * N / 4, vectors = p1 * N / 4;
  // Warp-uniform trip count (every lane takes part in the shuffles).
  const int warpBase = threadIdx.x - lane;
  for (int v0 = vBegin + warpBase; v0 < vectors; v0 += blockDim.x * kSsmFlatUnroll) {
    float s[kSsmFlatUnroll][4];
#pragma unroll
    for (int u = 0; u < kSsmFlatUnroll; ++u) {
      const int v = v0 + u * blockDim.x + lane;
      if (v < vectors) StateVec<TState, 4>::load(headState + static_cast<int64_t>(v) * 4, s[u]);
    }
#pragma unroll
    for (int u = 0; u < kSsmFlatUnroll; ++u) {
      const int v = v0 + u * blockDim.x + lane;
      const bool valid = v < vectors;
      // Row of the vector's first element, and of its last (one later at a row boundary).
      const int first = valid ? (v * 4) / N : P;
      int n = valid ? v * 4 - first * N : 0;
      float head = 0.f, tail = 0.f;
      bool boundary = false;
      if (valid) {
#pragma unroll
        for (int k = 0; k < 4; ++k) {
          const int pr = first + (boundary ? 1 : 0);
          s[u][k] = s[u][k] * dA + dt * xs[pr] * Bs[n];
          const float c = s[u][k] * Cs[n];
          if (boundary) tail += c; else head += c;
          if (++n == N) {
            n = 0;
            boundary = k < 3;  // a boundary after the last element starts no new part here
          }
        }
        StateVec<TState, 4>::store(headState + static_cast<int64_t>(v) * 4, s[u]);
      }
      // Each lane's `tail` belongs to row `last`; a lane with a boundary also owes `head` to the
      // row before. Sum the tails of each run of equal rows (rows are non-decreasing in lane).
      const int last = first + (boundary ? 1 : 0);
      float seg = boundary ? tail : head;
      for (int o = 1; o < 32; o <<= 1) {
        const float sv = __shfl_down_sync(0xffffffffu, seg, o);
        const int sr = __shfl_down_sync(0xffffffffu, last, o);
        if (lane + o < 32 && sr == last) seg += sv;
      }
      const int prevLast = __shfl_up_sync(0xffffffffu, last, 1);
      if (valid && (lane == 0 || prevLast != last)) atomicAdd(&ys[last], seg);
      if (valid && boundary) atomicAdd(&ys[first], head);
    }
  }
  __syncthreads();
  const float Dh = p.D[h];
  for (int i = p0 + threadIdx.x; i < p1; i += blockDim.x) y[i] = ys[i] + Dh * xs[i];
}

template <typename TDt, typename TState>
void launchSsmStepFlat(const SsmStepParams& p, Stream stream) {
  // Enough blocks for two per SM, in chunks of whole 4-row groups.
  const int kTargetBlocks = 2 * deviceSmCount();
  const int64_t heads = static_cast<int64_t>(p.batch) * p.nHeads;
  const int groups4 = (p.headDim + 3) / 4;
  const int64_t want = std::min<int64_t>(groups4, std::max<int64_t>(1, (kTargetBlocks + heads - 1) / heads));
  const int rowsPerBlock = 4 * static_cast<int>((groups4 + want - 1) / want);
  dim3 grid(p.batch, p.nHeads, static_cast<unsigned>((p.headDim + rowsPerBlock - 1) / rowsPerBlock));
  const size_t smem = (2 * static_cast<size_t>(p.stateSize) + 2 * static_cast<size_t>(p.headDim)) * sizeof(float);
  launchKernel(ssmStepFlatKernel<TDt, TState>, grid, dim3(kSsmFlatThreads), smem, static_cast<cudaStream_t>(stream), p,
               rowsPerBlock);
}

// One instantiation unit per dt type; state type and layout are chosen at run time.
template <typename TDt>
void launchSsmStepTyped(const SsmStepParams& p, Stream stream) {
  if (p.batch == 0) return;
  // 16-byte (fp32) / 8-byte (bf16) state loads need every row and the B/C columns aligned.
  const bool vec4 = p.stateSize % 4 == 0 && p.dInner % 4 == 0 && p.xbcStride % 4 == 0 &&
                    isAligned(p.xbc, 16) && isAligned(p.state, 16);
  // Unaligned rows but an aligned head: the flat kernel keeps 16-byte state accesses.
  const bool flat = !vec4 && p.stateSize >= 4 && (p.headDim * p.stateSize) % 4 == 0 && isAligned(p.state, 16);
  if (flat) {
    p.stateElem == ElemType::kBF16 ? launchSsmStepFlat<TDt, __nv_bfloat16>(p, stream)
                                   : launchSsmStepFlat<TDt, float>(p, stream);
    return;
  }
  if (p.stateElem == ElemType::kBF16) {
    vec4 ? launchSsmStepShaped<TDt, __nv_bfloat16, 4>(p, stream) : launchSsmStepShaped<TDt, __nv_bfloat16, 1>(p, stream);
  } else {
    vec4 ? launchSsmStepShaped<TDt, float, 4>(p, stream) : launchSsmStepShaped<TDt, float, 1>(p, stream);
  }
}

}  // namespace mamba::kernels
