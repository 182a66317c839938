#include "kernels/ssd_prefill/ssd_prefill.cuh"

namespace mamba::kernels {

extern template void launchSsdPrefillTyped<float>(const SsdPrefillParams&, Stream);
extern template void launchSsdPrefillTyped<__half>(const SsdPrefillParams&, Stream);
extern template void launchSsdPrefillTyped<__nv_bfloat16>(const SsdPrefillParams&, Stream);

SsdPrefillWorkspace ssdPrefillWorkspace(const SsdPrefillParams& p) {
  SsdPrefillWorkspace w;
  if (p.chunkSize < 1) return w;
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
  MAMBA_DISPATCH_ELEM(p.elem, launchSsdPrefillTyped<T>(p, stream));
}

}  // namespace mamba::kernels
