// ssd-phase-trace: where a chunk of the sequential-chunk SSD walk (ssd_sequential.cuh) spends
// its cycles. Builds its own copy of the kernel with MAMBA_SSD_PHASE_TRACE, so lane 0 of every
// warp of block (0, 0) stamps clock64() at the chunk loop's phase boundaries; runs the walk on
// random inputs at a model shape (default: the 130m layer at 8 x 16384, gated, bf16 operands,
// fp32 state) and prints, per phase, the cycles per chunk averaged over warps and chunks (and
// the slowest warp's), beside the kernel's time from CUDA events without the trace. A program
// for the GPU machine (sm_90+: the kernel as it runs there, tensor-map staging), not a test; the
// stamps add a few instructions per phase.
// Usage: ssd-phase-trace [--batch 8] [--len 16384] [--heads 24] [--headdim 64] [--state 128]
//                        [--plain] (y instead of the gated output)
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/common/cuda_check.cuh"
#include "kernels/ssd_prefill/ssd_sequential.cuh"

namespace {

using mamba::kernels::ElemType;
using mamba::kernels::SsdPrefillParams;
namespace ssd = mamba::kernels::ssd;

// Deterministic pseudo-random values in [lo, hi): a hash of the index and seed.
template <typename T>
__global__ void fillKernel(T* p, int64_t n, uint32_t seed, float lo, float hi) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    const float u = static_cast<float>(h & 0xffffff) / 16777216.f;
    p[i] = static_cast<T>(lo + (hi - lo) * u);
  }
}

template <typename T>
T* deviceFilled(int64_t n, uint32_t seed, float lo, float hi) {
  T* p = nullptr;
  MAMBA_CUDA_CHECK(cudaMalloc(&p, std::max<int64_t>(n, 1) * sizeof(T)));
  fillKernel<T><<<1024, 256>>>(p, n, seed, lo, hi);
  MAMBA_CUDA_CHECK_LAUNCH();
  return p;
}

int argInt(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

bool argFlag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return true;
  }
  return false;
}

template <bool kGate>
void run(SsdPrefillParams p) {
  auto kernel = ssd::ssdSequentialKernel<__nv_bfloat16, float, kGate, true>;  // tile staging, as on sm_90
  CUtensorMap tmX{}, tmBC{};
  ssd::seqTensorMaps(p, tmX, tmBC);
  const int smem = ssd::seqSharedBytes<__nv_bfloat16, kGate>();
  MAMBA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  const dim3 grid(p.nHeads * ((p.headDim + ssd::kSeqLanes - 1) / ssd::kSeqLanes), p.batch);
  const int chunks = (p.seqLen + ssd::kSeqChunk - 1) / ssd::kSeqChunk;
  const int traced = std::min(chunks, ssd::kSeqTraceChunks);
  constexpr int kWarps = ssd::kSeqThreads / 32;
  const size_t stamps = static_cast<size_t>(traced) * kWarps * ssd::kSeqTracePhases;
  long long* trace = nullptr;
  MAMBA_CUDA_CHECK(cudaMalloc(&trace, stamps * sizeof(long long)));
  long long* none = nullptr;

  // Untraced: two warm-up launches, then the median of five timed ones.
  MAMBA_CUDA_CHECK(cudaMemcpyToSymbol(ssd::gSeqPhaseTrace, &none, sizeof(none)));
  cudaEvent_t t0, t1;
  MAMBA_CUDA_CHECK(cudaEventCreate(&t0));
  MAMBA_CUDA_CHECK(cudaEventCreate(&t1));
  std::vector<float> ms;
  for (int i = 0; i < 7; ++i) {
    MAMBA_CUDA_CHECK(cudaEventRecord(t0));
    kernel<<<grid, ssd::kSeqThreads, smem>>>(p, tmX, tmBC);
    MAMBA_CUDA_CHECK_LAUNCH();
    MAMBA_CUDA_CHECK(cudaEventRecord(t1));
    MAMBA_CUDA_CHECK(cudaEventSynchronize(t1));
    float m = 0.f;
    MAMBA_CUDA_CHECK(cudaEventElapsedTime(&m, t0, t1));
    if (i >= 2) ms.push_back(m);
  }
  std::sort(ms.begin(), ms.end());
  const float kernelMs = ms[ms.size() / 2];

  MAMBA_CUDA_CHECK(cudaMemcpyToSymbol(ssd::gSeqPhaseTrace, &trace, sizeof(trace)));
  kernel<<<grid, ssd::kSeqThreads, smem>>>(p, tmX, tmBC);
  MAMBA_CUDA_CHECK_LAUNCH();
  MAMBA_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<long long> h(stamps);
  MAMBA_CUDA_CHECK(cudaMemcpy(h.data(), trace, stamps * sizeof(long long), cudaMemcpyDeviceToHost));
  auto at = [&](int c, int w, int k) { return h[(static_cast<size_t>(c) * kWarps + w) * ssd::kSeqTracePhases + k]; };

  int clockKHz = 0, dev = 0;
  MAMBA_CUDA_CHECK(cudaGetDevice(&dev));
  MAMBA_CUDA_CHECK(cudaDeviceGetAttribute(&clockKHz, cudaDevAttrClockRate, dev));
  cudaDeviceProp prop{};
  MAMBA_CUDA_CHECK(cudaGetDeviceProperties(&prop, dev));
  std::printf("%s, %d SMs; B=%d L=%d H=%d P=%d N=%d %s: %d blocks of %d threads, %d B shared memory\n", prop.name,
              prop.multiProcessorCount, p.batch, p.seqLen, p.nHeads, p.headDim, p.stateSize, kGate ? "gated" : "plain",
              grid.x * grid.y, ssd::kSeqThreads, smem);
  std::printf(
      "kernel %.3f ms (median of 5, this copy with the stamps off) = %.2f us per chunk of %d steps over %d chunks\n",
      kernelMs, 1000.f * kernelMs / chunks, ssd::kSeqChunk, chunks);
  // Chunks 2 .. traced - 2: past the first stage's cold start, each with a following chunk.
  const int c0 = std::min(2, traced - 1), c1 = std::max(c0 + 1, traced - 1);
  const char* names[] = {"barrier 1 (stage landed)",
                         "next stage issued",
                         "cumsum + decay arrays",
                         "C B^T + C S^T",
                         "M x",
                         "z landed (gated)",
                         "epilogue",
                         "S update",
                         "barrier 2",
                         "S operand copy"};
  static_assert(sizeof(names) / sizeof(names[0]) == ssd::kSeqTracePhases - 1, "one name per phase");
  std::printf("\nblock (0, 0), chunks %d..%d; cycles per chunk (clock64; %d kHz nominal clock)\n", c0, c1 - 1,
              clockKHz);
  std::printf("| phase | mean over warps | slowest warp (mean) | per warp rg0..3 half0 | per warp rg0..3 half1 |\n");
  std::printf("|---|---|---|---|---|\n");
  for (int k = 0; k + 1 < ssd::kSeqTracePhases; ++k) {
    double sum = 0;
    std::vector<double> perWarp(kWarps, 0.0);
    for (int c = c0; c < c1; ++c) {
      for (int w = 0; w < kWarps; ++w) perWarp[w] += static_cast<double>(at(c, w, k + 1) - at(c, w, k));
    }
    for (double& v : perWarp) v /= (c1 - c0);
    for (double v : perWarp) sum += v;
    std::printf("| %s | %.0f | %.0f |", names[k], sum / kWarps, *std::max_element(perWarp.begin(), perWarp.end()));
    for (int half = 0; half < 2; ++half) {
      std::printf(" ");
      for (int rg = 0; rg < 4; ++rg) std::printf("%s%.0f", rg ? " / " : "", perWarp[rg + 4 * half]);
      std::printf(" |");
    }
    std::printf("\n");
  }
  double loop = 0;
  for (int c = c0; c < c1; ++c) {
    for (int w = 0; w < kWarps; ++w) loop += static_cast<double>(at(c + 1, w, 0) - at(c, w, 0));
  }
  loop /= static_cast<double>(c1 - c0) * kWarps;
  std::printf("| whole chunk (loop top to loop top) | %.0f | | | |\n", loop);
  MAMBA_CUDA_CHECK(cudaFree(trace));
}

int traceMain(int argc, char** argv) {
  SsdPrefillParams p;
  p.batch = argInt(argc, argv, "--batch", 8);
  p.seqLen = argInt(argc, argv, "--len", 16384);
  p.nHeads = argInt(argc, argv, "--heads", 24);
  p.headDim = argInt(argc, argv, "--headdim", 64);
  p.stateSize = argInt(argc, argv, "--state", 128);
  p.nGroups = 1;
  p.chunkSize = 128;
  const bool gated = !argFlag(argc, argv, "--plain");
  if (p.batch < 1 || p.seqLen < 4 * ssd::kSeqChunk || p.nHeads < 1 || p.headDim % 8 != 0 || p.stateSize < 1 ||
      p.stateSize > mamba::kernels::kSsdSeqMaxN || p.stateSize % 8 != 0) {
    std::fprintf(stderr, "ssd-phase-trace: need batch >= 1, len >= %d, headdim %% 8 == 0, state in 8..%d (%% 8)\n",
                 4 * ssd::kSeqChunk, mamba::kernels::kSsdSeqMaxN);
    return 2;
  }
  const int64_t B = p.batch, L = p.seqLen, H = p.nHeads, P = p.headDim, N = p.stateSize, Di = H * P;
  const int64_t CD = Di + 2 * N;
  p.elem = ElemType::kBF16;
  p.stateElem = ElemType::kF32;
  p.xbc = deviceFilled<__nv_bfloat16>(B * L * CD, 1u, -1.f, 1.f);
  p.dt = deviceFilled<float>(B * L * H, 2u, 0.001f, 0.1f);
  p.A = deviceFilled<float>(H, 3u, -8.f, -1.f);
  p.D = deviceFilled<float>(H, 4u, 0.5f, 1.5f);
  p.state = deviceFilled<float>(B * H * P * N, 5u, 0.f, 0.f);
  std::vector<int32_t> slots(B), zeros(B, 0), lengths(B, static_cast<int32_t>(L));
  for (int64_t b = 0; b < B; ++b) slots[b] = static_cast<int32_t>(b);
  int32_t* meta = nullptr;
  MAMBA_CUDA_CHECK(cudaMalloc(&meta, 3 * B * sizeof(int32_t)));
  MAMBA_CUDA_CHECK(cudaMemcpy(meta, slots.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice));
  MAMBA_CUDA_CHECK(cudaMemcpy(meta + B, zeros.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice));
  MAMBA_CUDA_CHECK(cudaMemcpy(meta + 2 * B, lengths.data(), B * sizeof(int32_t), cudaMemcpyHostToDevice));
  p.slots = meta;
  p.cont = meta + B;
  p.lengths = meta + 2 * B;
  if (gated) {
    p.gateZ = deviceFilled<__nv_bfloat16>(B * L * Di, 6u, -2.f, 2.f);
    p.gateZStride = Di;
    p.gateWeight = deviceFilled<__nv_bfloat16>(Di, 7u, 0.5f, 1.5f);
    p.gated = deviceFilled<__nv_bfloat16>(B * L * Di, 8u, 0.f, 0.f);
    p.gateSumSq = deviceFilled<float>(B * L * mamba::kernels::ssdGateParts(H, P), 9u, 0.f, 0.f);
    run<true>(p);
  } else {
    p.y = deviceFilled<float>(B * L * Di, 10u, 0.f, 0.f);
    run<false>(p);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return traceMain(argc, argv);
  } catch (const mamba::kernels::CudaError& e) {
    std::fprintf(stderr, "ssd-phase-trace: %s\n", e.what());
    return 1;
  }
}
