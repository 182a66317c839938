// Host side of launchPersistentDecode: shape checks, launch geometry and type dispatch.
#include <algorithm>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/device_info.h"
#include "kernels/common/dispatch.cuh"
#include "kernels/decode_persistent/decode_persistent_layout.cuh"

namespace mamba::kernels {

namespace {

int elemBytes(ElemType e) { return e == ElemType::kF32 ? 4 : 2; }

}  // namespace

PersistentDecodeConfig persistentDecodeConfig(const PersistentDecodeParams& p) {
  PersistentDecodeConfig c;
  auto refuse = [](std::string why) {
    PersistentDecodeConfig r;
    r.why = std::move(why);
    return r;
  };
  if (p.batch < 1 || p.batch > kPersistentDecodeMaxBatch) return refuse("batch must be in 1..8");
  if (p.nLayers < 1 || p.nLayers > kPersistentDecodeMaxLayers) return refuse("layers must be in 1..64");
  const int vec = 16 / elemBytes(p.elem);
  if (p.dModel < 1 || p.dModel % vec != 0 || p.dModel % 4 != 0) {
    return refuse("d_model must be a multiple of one 16-byte load");
  }
  if (p.dInner < 1 || p.dInner % vec != 0 || p.dInner % 4 != 0) {
    return refuse("d_inner must be a multiple of one 16-byte load");
  }
  if (p.nHeads < 1 || p.headDim < 1 || p.nHeads * p.headDim != p.dInner) {
    return refuse("heads x head_dim must be d_inner");
  }
  if (p.nGroups < 1 || p.nHeads % p.nGroups != 0) return refuse("groups must divide the heads");
  if (p.batch * p.nGroups > persistent::kMaxNormPairs) return refuse("batch x groups must be at most 64");
  if (p.convKernel < 1 || p.convKernel > 16) return refuse("conv kernel must be in 1..16");
  for (int l = 0; l < p.nLayers; ++l) {
    const PersistentDecodeLayer& ly = p.layers[l];
    if (ly.stateSize < 1 || ly.stateSize > kPersistentDecodeMaxState) return refuse("state size must be in 1..256");
    if (!isAligned(ly.inProj, 16) || !isAligned(ly.outProj, 16)) return refuse("weights must be 16-byte aligned");
  }
  const std::optional<DeviceInfo> device = currentDeviceInfoIfAny();
  if (!device) return refuse("no CUDA device");
  const DeviceInfo& d = *device;
  if (d.major < 8) return refuse("needs sm_80 or newer (cp.async)");
  c.grid = p.grid > 0 ? std::min(p.grid, d.sms) : d.sms;
  const persistent::Layout L = persistent::layoutOf(p, c.grid, elemBytes(p.elem));
  if (L.total > d.smemOptin) return refuse("the per-CTA weight slices exceed the shared memory");
  c.sharedBytes = L.total;
  return c;
}

int64_t persistentDecodeWorkspaceFloats(const PersistentDecodeParams& p) {
  const persistent::Layout L = persistent::layoutOf(p, 1, elemBytes(p.elem));
  return persistent::workFloats(p, L);
}

void launchPersistentDecode(const PersistentDecodeParams& p, Stream stream) {
  const PersistentDecodeConfig c = persistentDecodeConfig(p);
  if (!c.why.empty()) throw CudaError("launchPersistentDecode: " + c.why);
  if (p.slots == nullptr || p.residual == nullptr || p.workspace == nullptr || p.barrier == nullptr) {
    throw CudaError("launchPersistentDecode: slots, residual, workspace and barrier are required");
  }
  MAMBA_DISPATCH_ELEM(p.elem, launchPersistentDecodeTyped<T>(p, c.grid, c.sharedBytes, 0, 3 * p.nLayers, stream));
}

}  // namespace mamba::kernels
