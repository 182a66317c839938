// Launcher of the SSD prefill kernels (ssd_prefill.h), included by the per-type instantiation
// files: the single-tile kernel for short calls, else prepare, state pass and scan.
#pragma once

#include <climits>

#include "kernels/common/env_tuning.h"
#include "kernels/ssd_prefill/ssd_prefill.cuh"
#include "kernels/ssd_prefill/ssd_sequential.cuh"
#include "kernels/ssd_prefill/ssd_single_tile.cuh"

namespace mamba::kernels {

// The sequential-chunk launch (ssd_sequential.cuh), fp16/bf16 operands only.
template <typename T, typename TState, bool kGate, bool kTile>
void launchSsdSequentialStaged(const SsdPrefillParams& p, cudaStream_t s) {
  auto kernel = ssd::ssdSequentialKernel<T, TState, kGate, kTile>;
  static DynamicSmemLimit limit;
  limit.ensure(kernel, ssd::seqSharedBytes<T, kGate>());
  CUtensorMap x{}, bc{};
  if constexpr (kTile) ssd::seqTensorMaps(p, x, bc);
  const int tilesP = (p.headDim + ssd::kSeqLanes - 1) / ssd::kSeqLanes;
  launchKernel(kernel, dim3(p.nHeads * tilesP, p.batch), dim3(ssd::kSeqThreads), ssd::seqSharedBytes<T, kGate>(), s, p,
               x, bc);
}

// Staging by SsdStageCopy; kAuto: tile copies on sm_90+ unless MAMBA_SSD_STAGE_COPY=1 asks for
// cp.async, cp.async below sm_90. Tile copies address rows as int32: longer calls take cp.async.
template <typename T, typename TState, bool kGate>
void launchSsdSequential(const SsdPrefillParams& p, cudaStream_t s) {
  static const bool cpAsyncAsked = envOneOf("MAMBA_SSD_STAGE_COPY", {1}) == 1;
  const bool tile = p.stageCopy == SsdStageCopy::kTensor ||
                    (p.stageCopy == SsdStageCopy::kAuto && deviceMajor() >= 9 && !cpAsyncAsked);
  if (tile && static_cast<int64_t>(p.batch) * p.seqLen <= INT32_MAX) {
    launchSsdSequentialStaged<T, TState, kGate, true>(p, s);
  } else {
    launchSsdSequentialStaged<T, TState, kGate, false>(p, s);
  }
}

template <typename T>
void launchSsdPrefillTyped(const SsdPrefillParams& p, Stream stream) {
  if (p.batch == 0) return;
  auto s = static_cast<cudaStream_t>(stream);
  const int Q = p.chunkSize, nc = (p.seqLen + Q - 1) / Q;
  const int tilesP = (p.headDim + ssd::kTile - 1) / ssd::kTile;
  const int tilesN = (p.stateSize + ssd::kTile - 1) / ssd::kTile;
  const int tilesQ = (Q + ssd::kTile - 1) / ssd::kTile;
  // 16-byte vectors where every row start of the operand is 16-byte aligned.
  constexpr int kV = 16 / static_cast<int>(sizeof(T));
  const int Np = ssd::statePitch(p), CD = p.nHeads * p.headDim + 2 * p.nGroups * Np;
  ssd::VecFlags vec;
  vec.xbc = CD % kV == 0 && p.headDim % kV == 0 && Np % kV == 0 && isAligned(p.xbc, 16) && isAligned(p.chunkInit, 16);
  vec.cb = Q % 4 == 0 && isAligned(p.cb, 16);
  vec.pool = p.stateSize % (p.stateElem == ElemType::kBF16 ? 8 : 4) == 0 && isAligned(p.state, 16);
  if constexpr (!std::is_same_v<T, float>) {
    if (ssdPrefillSequential(p)) {
      const bool gate = p.gated != nullptr;
      if (p.stateElem == ElemType::kBF16) {
        return gate ? launchSsdSequential<T, __nv_bfloat16, true>(p, s) : launchSsdSequential<T, __nv_bfloat16, false>(p, s);
      }
      return gate ? launchSsdSequential<T, float, true>(p, s) : launchSsdSequential<T, float, false>(p, s);
    }
  }
  if (ssdPrefillSingleTile(p)) {
    auto kernel = ssd::ssdSingleTileKernel<T>;
    constexpr int smem = ssd::singleTileSharedBytes<T>();
    static DynamicSmemLimit limit;
    limit.ensure(kernel, smem);
    const int ranks = ssd::singleTileRanks(p.stateSize);
    launchKernelClustered(kernel, dim3(p.nHeads * tilesP * ranks, 1, p.batch), dim3(ssd::kThreads), smem, s,
                          static_cast<unsigned>(ranks), p, vec);
    return;
  }
  // The trimmed kernels where they save work (fp16/bf16 operands, N mod 64 in 1..32).
  auto prepare = ssd::ssdChunkPrepareKernel<T, false>;
  auto scan = ssd::ssdChunkScanKernel<T, false>;
  if constexpr (!std::is_same_v<T, float>) {
    if (ssd::trimmedKernels(p.stateSize)) {
      prepare = ssd::ssdChunkPrepareKernel<T, true>;
      scan = ssd::ssdChunkScanKernel<T, true>;
    }
  }
  if (nc > 0) {
    dim3 grid(p.nHeads * tilesP * tilesN + p.nGroups * tilesQ * (tilesQ + 1) / 2, nc, p.batch);
    launchKernel(prepare, grid, dim3(ssd::kThreads), 0, s, p, vec);
  }
  if (nc == 1) {
    launchKernel(scan, dim3(p.nHeads * tilesP * tilesQ, 1, p.batch), dim3(ssd::kThreads), 0, s, p, vec);
    return;  // the prepare kernel did the state pass (singleChunkState)
  }
  const int pn = p.headDim * p.stateSize;
  dim3 passGrid((pn + ssd::kPassThreads - 1) / ssd::kPassThreads, p.nHeads, p.batch);
  if (p.stateElem == ElemType::kBF16) {
    launchKernel(ssd::ssdStatePassKernel<T, __nv_bfloat16>, passGrid, dim3(ssd::kPassThreads), 0, s, p);
  } else {
    launchKernel(ssd::ssdStatePassKernel<T, float>, passGrid, dim3(ssd::kPassThreads), 0, s, p);
  }
  if (nc > 0) {
    dim3 grid(p.nHeads * tilesP * tilesQ, nc, p.batch);
    launchKernel(scan, grid, dim3(ssd::kThreads), 0, s, p, vec);
  }
}

}  // namespace mamba::kernels
