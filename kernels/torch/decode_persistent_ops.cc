#include "kernels/torch/decode_persistent_ops.h"

#include <cmath>
#include <limits>

#include "kernels/decode_persistent/decode_persistent.h"
#include "kernels/torch/adapter_checks.h"

namespace mamba::cuda {
namespace {

using namespace adapter;  // NOLINT: the adapters' shared checks

// Checks one layer's tensors against the shape (throws c10::Error naming the layer and tensor)
// and fills its params.
kernels::PersistentDecodeLayer layerParams(int64_t l, const PersistentDecodeLayerTensors& t,
                                           const PersistentDecodeShape& s, torch::ScalarType dtype,
                                           const torch::Device& device) {
  const int64_t Dm = s.dModel, Di = s.dInner, H = s.nHeads, P = s.headDim, G = s.nGroups, Kc = s.convKernel;
  auto check = [&](const torch::Tensor& x, const char* name, torch::ScalarType want,
                   std::initializer_list<int64_t> shape, bool optional = false) {
    if (optional && !x.defined()) return;
    TORCH_CHECK(x.defined() && x.is_cuda() && x.device() == device, "persistent decode: layer ", l, " ", name,
                " must be a tensor on ", device);
    TORCH_CHECK(x.is_contiguous(), "persistent decode: layer ", l, " ", name, " must be contiguous");
    TORCH_CHECK(x.scalar_type() == want, "persistent decode: layer ", l, " ", name, " must be ", want, ", got ",
                x.scalar_type());
    TORCH_CHECK(x.sizes() == torch::IntArrayRef(shape), "persistent decode: layer ", l, " ", name, " must be ",
                torch::IntArrayRef(shape), ", got ", x.sizes());
  };
  TORCH_CHECK(t.ssmState.defined() && t.ssmState.dim() == 4, "persistent decode: layer ", l,
              " ssmState must be (S, H, P, N)");
  const int64_t S = t.ssmState.size(0), N = t.ssmState.size(3);
  const int64_t CD = Di + 2 * G * N, DIP = 2 * Di + 2 * G * N + H;
  TORCH_CHECK(t.inProj.defined() && t.inProj.dim() == 2 && t.inProj.size(0) >= DIP, "persistent decode: layer ", l,
              " inProj must have at least ", DIP, " rows");
  check(t.norm, "norm", dtype, {Dm});
  check(t.inProj, "inProj", dtype, {t.inProj.size(0), Dm});
  if (t.inProjBias.defined()) check(t.inProjBias, "inProjBias", dtype, {t.inProjBias.size(0)});
  TORCH_CHECK(!t.inProjBias.defined() || t.inProjBias.size(0) >= DIP, "persistent decode: layer ", l,
              " inProjBias too short");
  check(t.convState, "convState", torch::kFloat32, {S, CD, Kc});
  check(t.convWeight, "convWeight", torch::kFloat32, {CD, Kc});
  check(t.convBias, "convBias", torch::kFloat32, {CD}, true);
  check(t.ssmState, "ssmState", torch::kFloat32, {S, H, P, N});
  check(t.dtBias, "dtBias", torch::kFloat32, {H});
  check(t.A, "A", torch::kFloat32, {H});
  check(t.D, "D", torch::kFloat32, {H});
  check(t.gatedNorm, "gatedNorm", dtype, {Di});
  check(t.outProj, "outProj", dtype, {Dm, Di});
  check(t.outProjBias, "outProjBias", dtype, {Dm}, true);
  kernels::PersistentDecodeLayer p;
  p.norm = t.norm.data_ptr();
  p.inProj = t.inProj.data_ptr();
  p.inProjBias = t.inProjBias.defined() ? t.inProjBias.data_ptr() : nullptr;
  p.convState = t.convState.data_ptr<float>();
  p.convWeight = t.convWeight.data_ptr<float>();
  p.convBias = t.convBias.defined() ? t.convBias.data_ptr<float>() : nullptr;
  p.ssmState = t.ssmState.data_ptr<float>();
  p.dtBias = t.dtBias.data_ptr<float>();
  p.A = t.A.data_ptr<float>();
  p.D = t.D.data_ptr<float>();
  p.gatedNorm = t.gatedNorm.data_ptr();
  p.outProj = t.outProj.data_ptr();
  p.outProjBias = t.outProjBias.defined() ? t.outProjBias.data_ptr() : nullptr;
  p.stateSize = static_cast<int>(N);
  return p;
}

// Params without the per-call tensors (slots, residual, workspace, barrier).
kernels::PersistentDecodeParams baseParams(int64_t batch, const PersistentDecodeShape& s,
                                           const std::vector<PersistentDecodeLayerTensors>& layers) {
  TORCH_CHECK(!layers.empty() && layers.size() <= static_cast<size_t>(kernels::kPersistentDecodeMaxLayers),
              "persistent decode: 1..", kernels::kPersistentDecodeMaxLayers, " layers, got ", layers.size());
  TORCH_CHECK(layers[0].inProj.defined(), "persistent decode: layer 0 inProj is undefined");
  const torch::ScalarType dtype = layers[0].inProj.scalar_type();
  const torch::Device device = layers[0].inProj.device();
  kernels::PersistentDecodeParams p;
  p.batch = static_cast<int>(batch);
  p.nLayers = static_cast<int>(layers.size());
  p.dModel = static_cast<int>(s.dModel);
  p.dInner = static_cast<int>(s.dInner);
  p.nHeads = static_cast<int>(s.nHeads);
  p.headDim = static_cast<int>(s.headDim);
  p.nGroups = static_cast<int>(s.nGroups);
  p.convKernel = static_cast<int>(s.convKernel);
  p.elem = elemOf(dtype);
  p.eps = static_cast<float>(s.eps);
  p.dtMin = static_cast<float>(s.dtMin);
  p.dtMax = static_cast<float>(std::min(s.dtMax, 3.4e38));
  for (size_t l = 0; l < layers.size(); ++l) {
    p.layers[l] = layerParams(static_cast<int64_t>(l), layers[l], s, dtype, device);
  }
  return p;
}

}  // namespace

std::string persistentDecodeUnsupported(int64_t batch, const PersistentDecodeShape& shape,
                                        const std::vector<PersistentDecodeLayerTensors>& layers, int64_t grid) {
  if (batch < 1 || batch > kernels::kPersistentDecodeMaxBatch) return "batch not in 1..8";
  kernels::PersistentDecodeParams p;
  try {
    p = baseParams(batch, shape, layers);
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  p.grid = static_cast<int>(grid);
  return kernels::persistentDecodeConfig(p).why;
}

void persistentDecode(torch::Tensor& residual, const torch::Tensor& slots,
                      const std::vector<PersistentDecodeLayerTensors>& layers, const PersistentDecodeShape& shape,
                      torch::Tensor& barrier, int64_t grid) {
  checkF32(residual, "residual");
  TORCH_CHECK(residual.dim() == 2 && residual.size(1) == shape.dModel, "residual must be (B, Dm) with Dm = ",
              shape.dModel);
  const int64_t B = residual.size(0);
  checkSlots(slots, B);
  checkCuda(barrier, "barrier");
  TORCH_CHECK(barrier.scalar_type() == torch::kInt32 && barrier.numel() == kernels::kGridBarrierWords,
              "barrier must be (", kernels::kGridBarrierWords, ") int32");
  checkAligned16(residual, "residual");
  kernels::PersistentDecodeParams p = baseParams(B, shape, layers);
  TORCH_CHECK(residual.device() == layers[0].inProj.device() && slots.device() == residual.device() &&
                  barrier.device() == residual.device(),
              "persistent decode: tensors on different devices");
  p.slots = slots.data_ptr<int32_t>();
  p.residual = residual.data_ptr<float>();
  p.barrier = reinterpret_cast<unsigned*>(barrier.data_ptr<int32_t>());
  p.grid = static_cast<int>(grid);
  torch::Tensor work = torch::empty({kernels::persistentDecodeWorkspaceFloats(p)}, residual.options());
  p.workspace = work.data_ptr<float>();
  launch([&] { kernels::launchPersistentDecode(p, stream()); });
}

}  // namespace mamba::cuda
