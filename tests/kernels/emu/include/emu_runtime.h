// CPU emulation of the CUDA execution model, for running kernel logic on a machine without a
// GPU (tests/kernels/emu). Blocks run one after another; the threads of a block are
// std::threads, with barriers for __syncthreads and the warp shuffles. __shared__ becomes
// `static` (one block at a time). Not emulated: clusters, dynamic shared memory, PDL, timing
// and the memory model (it checks what a kernel computes, not how fast or how it races).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#undef __shared__
#define __shared__ static
#define __launch_bounds__(...)
#define __grid_constant__

namespace emu {
inline thread_local uint3 tIdx, bIdx;
inline dim3 gBlockDim, gGridDim;
inline std::barrier<>* gBlockBarrier = nullptr;
inline std::vector<std::unique_ptr<std::barrier<>>> gWarpBarriers;
template <typename T>
inline T gShuffle[32][32];  // [warp][lane]

// kernel<<<grid, block>>>(args...), synchronously.
template <typename K, typename... A>
void launch(K kernel, dim3 grid, dim3 block, const A&... args) {
  const int nt = static_cast<int>(block.x * block.y * block.z);
  gBlockDim = block;
  gGridDim = grid;
  std::barrier<> bar(nt);
  gBlockBarrier = &bar;
  gWarpBarriers.clear();
  for (int w = 0; w < (nt + 31) / 32; ++w) {
    gWarpBarriers.push_back(std::make_unique<std::barrier<>>(std::min(32, nt - 32 * w)));
  }
  std::vector<std::thread> ts;
  for (int t = 0; t < nt; ++t) {
    ts.emplace_back([&, t] {
      tIdx = uint3{static_cast<unsigned>(t) % block.x, (static_cast<unsigned>(t) / block.x) % block.y,
                   static_cast<unsigned>(t) / (block.x * block.y)};
      for (unsigned z = 0; z < grid.z; ++z) {
        for (unsigned y = 0; y < grid.y; ++y) {
          for (unsigned x = 0; x < grid.x; ++x) {
            bIdx = uint3{x, y, z};
            kernel(args...);
            bar.arrive_and_wait();
          }
        }
      }
    });
  }
  for (auto& th : ts) th.join();
}

inline int linearTid() { return static_cast<int>(tIdx.x + gBlockDim.x * (tIdx.y + gBlockDim.y * tIdx.z)); }

// Lane `lane` of the calling thread's warp gets the value of lane srcLane(lane).
template <typename T, typename F>
T shuffle(T v, F srcLane) {
  const int t = linearTid(), w = t / 32, lane = t % 32;
  gShuffle<T>[w][lane] = v;
  gWarpBarriers[static_cast<size_t>(w)]->arrive_and_wait();
  const T r = gShuffle<T>[w][srcLane(lane)];
  gWarpBarriers[static_cast<size_t>(w)]->arrive_and_wait();
  return r;
}
}  // namespace emu

#define threadIdx (::emu::tIdx)
#define blockIdx (::emu::bIdx)
#define blockDim (::emu::gBlockDim)
#define gridDim (::emu::gGridDim)

inline void __syncthreads() { emu::gBlockBarrier->arrive_and_wait(); }

namespace emu {
// Fills a block's shared memory with 0xFF bytes (NaN in every float type) at the block's start,
// then a block barrier: a kernel that reads shared memory it did not write (or wrote for another
// block) then shows it in its results. Called by every thread, first thing: emu/gen.sh puts it
// after every dynamic shared-memory declaration it rewrites.
inline void poisonShared(void* p, size_t bytes) {
  if (linearTid() == 0) std::memset(p, 0xFF, bytes);
  __syncthreads();
}
}  // namespace emu
inline float __shfl_up_sync(unsigned, float v, int d) {
  return emu::shuffle(v, [d](int lane) { return lane >= d ? lane - d : lane; });
}
inline float __shfl_sync(unsigned, float v, int src) {
  return emu::shuffle(v, [src](int) { return src; });
}
inline float __shfl_xor_sync(unsigned, float v, int m) {
  return emu::shuffle(v, [m](int lane) { return lane ^ m; });
}
template <typename T>
inline T __shfl_down_sync(unsigned, T v, unsigned d) {
  return emu::shuffle(v, [d](int lane) { return lane + static_cast<int>(d) < 32 ? lane + static_cast<int>(d) : lane; });
}
inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline float __expf(float v) { return std::exp(v); }
inline float __fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float v) { return 1.f / std::sqrt(v); }
template <typename T>
inline T __ldg(const T* p) { return *p; }
template <typename T>
inline T __ldcg(const T* p) { return *p; }
inline void __syncwarp(unsigned = 0xffffffffu) {
  emu::gWarpBarriers[static_cast<size_t>(emu::linearTid() / 32)]->arrive_and_wait();
}
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline void __trap() { std::abort(); }
using std::max;
using std::min;
