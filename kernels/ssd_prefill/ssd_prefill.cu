#include "kernels/ssd_prefill/ssd_prefill_launch.cuh"

namespace mamba::kernels {

extern template void launchSsdPrefillTyped<float>(const SsdPrefillParams&, Stream);
extern template void launchSsdPrefillTyped<__half>(const SsdPrefillParams&, Stream);
extern template void launchSsdPrefillTyped<__nv_bfloat16>(const SsdPrefillParams&, Stream);

bool ssdPrefillSingleTile(const SsdPrefillParams& p) {
  if (!p.allowSingleTile || p.seqLen < 1 || p.seqLen > kSsdSingleTileMaxLen || p.seqLen > p.chunkSize) return false;
  const int ranks = ssd::singleTileRanks(p.stateSize);
  const int64_t blocks = static_cast<int64_t>(p.batch) * p.nHeads * ((p.headDim + ssd::kTile - 1) / ssd::kTile) * ranks;
  // Only while every cluster runs at once, at most one block per SM: each block's work is a
  // serial chain, so a second wave (or a shared SM) costs more than the saved launch. H200, 130m
  // bf16, CUDA-graph prefill, single tile vs three launches (ms, two interleaved pairs in one
  // process): 1 x 16 0.878 / 0.877 vs 0.945 / 0.972, 1 x 32 0.924 / 0.925 vs 1.002 / 1.033,
  // 1 x 64 1.034 / 1.036 vs 1.046 / 1.079 (96 blocks). An earlier form with the y block computing
  // CB itself lost at 8 x 16 (1.227 vs 1.115) and 8 x 64 (1.653 vs 1.365; 576 blocks).
  return ranks <= 8 && blocks <= deviceSmCount() && deviceMajor() >= 9;
}

bool ssdPrefillSequential(const SsdPrefillParams& p) {
  if (p.sequential == SsdSequential::kOff || p.elem == ElemType::kF32 || ssdPrefillSingleTile(p)) return false;
  if (p.stateSize < 1 || p.stateSize > kSsdSeqMaxN || p.headDim % 8 != 0 || ssd::statePitch(p) % 8 != 0 ||
      !isAligned(p.xbc, 16) || !isAligned(p.y, 8) || deviceMajor() < 8) {
    return false;
  }
  if (p.gated != nullptr && (p.gateZStride % 8 != 0 || !isAligned(p.gateZ, 16) || !isAligned(p.gateWeight, 4) ||
                             !isAligned(p.gated, 4))) {
    return false;
  }
  if (p.sequential == SsdSequential::kForce) return true;
  const int64_t blocks = static_cast<int64_t>(p.batch) * p.nHeads * ((p.headDim + ssd::kSeqLanes - 1) / ssd::kSeqLanes);
  // The sequential kernel's time is one block's walk over the chunks while the blocks fit the
  // SMs; the chunked kernels' time grows with the batch. H200 (132 SMs), prefill ms (chunked /
  // sequential), 130m bf16: 2 x 16384 (48 blocks) 39.6 / 58.2, 2 x 2048 5.80 / 7.87,
  // 4 x 16384 (96) 76.5 / 72.3, 4 x 2048 10.87 / 10.17, 8 x 16384 (192) 152.2 / 102.2; 2.7b
  // (80 heads) 1 x 2048 (80) 31.99 / 32.36. So from 0.65 x SMs blocks (86 here).
  return p.seqLen > ssd::kSeqChunk && 20 * blocks >= 13 * static_cast<int64_t>(deviceSmCount());
}

SsdPrefillWorkspace ssdPrefillWorkspace(const SsdPrefillParams& p) {
  SsdPrefillWorkspace w;
  if (p.chunkSize < 1 || ssdPrefillSingleTile(p) || ssdPrefillSequential(p)) return w;
  const int64_t nc = (static_cast<int64_t>(p.seqLen) + p.chunkSize - 1) / p.chunkSize;
  w.chunkStates = static_cast<int64_t>(p.batch) * nc * p.nHeads * p.headDim * p.stateSize;
  const int64_t pitch = p.statePitch > 0 ? p.statePitch : p.stateSize;
  w.chunkInit = static_cast<int64_t>(p.batch) * nc * p.nHeads * p.headDim * pitch;
  w.chunkLogDecay = static_cast<int64_t>(p.batch) * p.nHeads * nc;
  w.cb = static_cast<int64_t>(p.batch) * nc * p.nGroups * p.chunkSize * p.chunkSize;
  return w;
}

void launchSsdPrefill(const SsdPrefillParams& p, Stream stream) {
  if (p.chunkSize < 1 || p.chunkSize > kSsdMaxChunk) throw CudaError("launchSsdPrefill: chunkSize must be in 1..256");
  if (p.nHeads < 1 || p.headDim < 1 || p.stateSize < 1 || p.nGroups < 1 || p.nHeads % p.nGroups != 0) {
    throw CudaError("launchSsdPrefill: bad head/group/state sizes");
  }
  if (p.statePitch != 0 && p.statePitch < p.stateSize) throw CudaError("launchSsdPrefill: statePitch below stateSize");
  if (p.stateElem != ElemType::kF32 && p.stateElem != ElemType::kBF16) {
    throw CudaError("launchSsdPrefill: the state must be fp32 or bf16");
  }
  if (p.batch > 65535 || (p.seqLen + p.chunkSize - 1) / p.chunkSize > 65535) {
    throw CudaError("launchSsdPrefill: batch or chunk count above 65535");
  }
  if (p.gated != nullptr && (p.gateZ == nullptr || p.gateWeight == nullptr || p.gateSumSq == nullptr)) {
    throw CudaError("launchSsdPrefill: a gated call needs gateZ, gateWeight and gateSumSq");
  }
  if (p.gated != nullptr && !ssdPrefillSequential(p)) {
    throw CudaError("launchSsdPrefill: the gated output needs the sequential-chunk kernel (see ssdPrefillSequential)");
  }
  MAMBA_DISPATCH_ELEM(p.elem, launchSsdPrefillTyped<T>(p, stream));
}

}  // namespace mamba::kernels
