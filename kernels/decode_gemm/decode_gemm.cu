#include <algorithm>
#include <string>

#include "kernels/common/device_info.h"
#include "kernels/common/env_tuning.h"
#include "kernels/decode_gemm/decode_gemm.cuh"

namespace mamba::kernels {

extern template void launchDecodeGemmTyped<__half, GemvPrologue::kNone>(const dgemm::Args&, const DecodeGemmConfig&,
                                                                             Stream);
extern template void launchDecodeGemmTyped<__half, GemvPrologue::kRmsNorm>(const dgemm::Args&, const DecodeGemmConfig&,
                                                                             Stream);
extern template void launchDecodeGemmTyped<__half, GemvPrologue::kGatedRmsNorm>(const dgemm::Args&, const DecodeGemmConfig&,
                                                                             Stream);
extern template void launchDecodeGemmTyped<__nv_bfloat16, GemvPrologue::kNone>(const dgemm::Args&, const DecodeGemmConfig&,
                                                                             Stream);
extern template void launchDecodeGemmTyped<__nv_bfloat16, GemvPrologue::kRmsNorm>(const dgemm::Args&, const DecodeGemmConfig&,
                                                                             Stream);
extern template void launchDecodeGemmTyped<__nv_bfloat16, GemvPrologue::kGatedRmsNorm>(const dgemm::Args&, const DecodeGemmConfig&,
                                                                             Stream);

DecodeGemmConfig decodeGemmConfig(int batch, int cols, int rows, ElemType elem, int groups, bool convState) {
  DecodeGemmConfig c;
  auto refuse = [](const char* why) {
    DecodeGemmConfig r;
    r.why = why;
    return r;
  };
  if (elem == ElemType::kF32) return refuse("fp32 weights are not supported (bf16 and fp16 only)");
  if (batch < 1 || batch > kDecodeGemmMaxBatch) return refuse("batch must be in 1..64");
  if (rows < 1 || cols < 16 || cols % 16 != 0) return refuse("K must be a positive multiple of 16 and M >= 1");
  if (groups < 1 || cols % groups != 0) return refuse("groups must divide K");
  const std::optional<DeviceInfo> device = currentDeviceInfoIfAny();
  if (!device) return refuse("no CUDA device");
  const DeviceInfo& d = *device;
  if (d.major < 9) return refuse("needs sm_90 or newer (thread-block clusters, PDL)");
  // The cluster that splits K into slices of whole k16 steps, at most kDecodeGemmMaxSliceK
  // wide, with the gated norm's groups on slice boundaries: 4 CTAs where that is possible, else
  // 8, 2, 1. Fewer ranks mean fewer partial tiles to reduce through distributed shared memory
  // and fewer CTAs re-reading the activations. H200, 130m bf16, in_proj (K = 768) with its
  // RMSNorm and conv step, in-graph us at batch 1 / 32 / 64: cluster 8 (tile 128) 4.51 / 7.48 /
  // 12.97, cluster 4 (tile 128) 4.15 / 6.49 / 10.03 (bench/results/h200_2026-12-01/session10).
  // MAMBA_DECODE_GEMM_CLUSTER=8|4|2|1 takes that size where it is valid (for tuning runs only).
  static const int forcedCluster = envOneOf("MAMBA_DECODE_GEMM_CLUSTER", {8, 4, 2, 1});
  auto validCluster = [&](int ck) {
    return cols % (16 * ck) == 0 && cols / ck <= kDecodeGemmMaxSliceK && ck % groups == 0;
  };
  if (forcedCluster != 0 && validCluster(forcedCluster)) c.clusterSize = forcedCluster;
  for (int ck : {4, 8, 2, 1}) {
    if (c.clusterSize == 0 && validCluster(ck)) c.clusterSize = ck;
  }
  if (c.clusterSize == 0) {
    return refuse("no cluster size in {8, 4, 2, 1} splits K into slices of 16..256 columns on group boundaries");
  }
  c.sliceK = cols / c.clusterSize;
  c.mTiles = batch <= 16 ? 1 : batch <= 32 ? 2 : 4;
  // The narrowest tile whose grid has at most one CTA per SM, or per two SMs at mTiles 1 (the
  // widest that fits the shared memory otherwise). The kernel is latency-bound: narrower tiles
  // shorten each warp's serial work but add CTAs, each re-reading the activations and adding
  // partials to the cluster reduction; at batch 1 the prologue is short and the larger share
  // of the weights per CTA wins. H200, 130m bf16, in-graph us at batch 1 / 32 / 64, tile 64 /
  // 128 / 256: in_proj (cluster 4; 212 / 108 / 56 CTAs) 4.42 / 4.15 / 3.63, 6.61 / 6.49 / 8.61,
  // 11.37 / 10.03 / 14.44; out_proj with its gated norm and residual (cluster 8; 96 / 48 / 24
  // CTAs) 4.03 / 3.62 / 3.89, 5.82 / 6.10 / 7.46, 8.87 / 10.09 / 12.48 (session10/run3).
  // In the model's two-stream batch-64 decode (two B32 blocks), forcing 64 (twice the CTAs, so
  // more could share SMs with the other stream) was no faster (dense 1.151 / 1.160 vs 1.164 /
  // 1.121 ms, N = 64 0.802 / 0.829 vs 0.805 / 0.791; session18/run5), nor was 256 (session17).
  // MAMBA_DECODE_GEMM_TILE_N=64|128|256 fixes the tile where it fits (for tuning runs only).
  static const int forcedTileN = envOneOf("MAMBA_DECODE_GEMM_TILE_N", {64, 128, 256});
  const int64_t ctaBudget = c.mTiles == 1 ? std::max(1, d.sms / 2) : d.sms;
  for (int nw : {1, 2, 4}) {
    const int tileN = 64 * nw;
    if (forcedTileN != 0 && tileN != forcedTileN) continue;
    const dgemm::Layout L = dgemm::layoutOf(c.mTiles, tileN, c.sliceK, c.clusterSize, batch, convState);
    if (L.total > d.smemOptin) continue;
    c.tileN = tileN;
    c.sharedBytes = L.total;
    c.clusters = (rows + tileN - 1) / tileN;
    if (static_cast<int64_t>(c.clusters) * c.clusterSize <= ctaBudget) break;
  }
  if (c.tileN == 0) return refuse("the tiles exceed the shared memory");
  return c;
}

void launchDecodeGemm(const GemvParams& p, Stream stream) {
  if (p.batch < 1 || p.rows < 1 || p.cols < 1) throw CudaError("launchDecodeGemm: invalid sizes");
  if (p.weight == nullptr || !isAligned(p.weight, 16)) throw CudaError("launchDecodeGemm: weight must be 16-byte aligned");
  bool vec4 = false;
  switch (p.prologue) {
    case GemvPrologue::kNone:
      if (p.x == nullptr) throw CudaError("launchDecodeGemm: no input x");
      vec4 = isAligned(p.x, 8) && p.xStride % 4 == 0;
      break;
    case GemvPrologue::kGatedRmsNorm:
      if (p.y == nullptr || p.z == nullptr || p.normWeight == nullptr) {
        throw CudaError("launchDecodeGemm: gated norm needs y, z and a weight");
      }
      if (p.groups < 1 || p.cols % p.groups != 0) throw CudaError("launchDecodeGemm: groups must divide K");
      if (!isAligned(p.y, 16)) throw CudaError("launchDecodeGemm: y must be 16-byte aligned");
      vec4 = isAligned(p.z, 8) && p.zStride % 4 == 0;
      break;
    case GemvPrologue::kRmsNorm:
      if (p.normInput == nullptr || p.normWeight == nullptr) {
        throw CudaError("launchDecodeGemm: RMSNorm needs an input and a weight");
      }
      if (!isAligned(p.normInput, 16)) throw CudaError("launchDecodeGemm: the norm input must be 16-byte aligned");
      break;
  }
  if (p.epilogue == GemvEpilogue::kResidualAdd) {
    if (p.residual == nullptr) throw CudaError("launchDecodeGemm: no residual");
  } else if (p.out == nullptr) {
    throw CudaError("launchDecodeGemm: no output");
  }
  bool convVec = false;
  if (p.epilogue == GemvEpilogue::kStoreConvStep) {
    const GemvConvStep& c = p.conv;
    if (c.kernelSize < 1 || c.kernelSize > kMaxConvKernel) throw CudaError("launchDecodeGemm: conv kernelSize not in 1..16");
    if (c.row0 < 0 || c.channels < 0 || c.row0 + c.channels > p.rows) {
      throw CudaError("launchDecodeGemm: conv rows out of range");
    }
    if (c.state == nullptr || c.slots == nullptr || c.weight == nullptr || c.out == nullptr) {
      throw CudaError("launchDecodeGemm: conv step needs state, slots, weight and out");
    }
    convVec = c.kernelSize == 4 && isAligned(c.state, 16) && isAligned(c.weight, 16);
  }
  const int groups = p.prologue == GemvPrologue::kGatedRmsNorm ? p.groups : 1;
  const DecodeGemmConfig cfg = decodeGemmConfig(p.batch, p.cols, p.rows, p.elem, groups, convVec);
  if (cfg.clusterSize == 0) throw CudaError(std::string("launchDecodeGemm: ") + cfg.why);
  dgemm::Args a;
  a.p = p;
  a.clusterSize = cfg.clusterSize;
  a.sliceK = cfg.sliceK;
  a.vec4 = vec4 ? 1 : 0;
  a.convVec = convVec ? 1 : 0;
  auto launchPrologue = [&](auto elem) {
    using T = decltype(elem);
    switch (p.prologue) {
      case GemvPrologue::kNone: return launchDecodeGemmTyped<T, GemvPrologue::kNone>(a, cfg, stream);
      case GemvPrologue::kRmsNorm: return launchDecodeGemmTyped<T, GemvPrologue::kRmsNorm>(a, cfg, stream);
      case GemvPrologue::kGatedRmsNorm: return launchDecodeGemmTyped<T, GemvPrologue::kGatedRmsNorm>(a, cfg, stream);
    }
  };
  switch (p.elem) {
    case ElemType::kBF16: return launchPrologue(__nv_bfloat16{});
    case ElemType::kF16: return launchPrologue(__half{});
    case ElemType::kF32: break;
  }
  throw CudaError("launchDecodeGemm: fp32 weights are not supported");
}

}  // namespace mamba::kernels
