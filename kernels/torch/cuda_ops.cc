#include "kernels/torch/cuda_ops.h"

#include <cstdlib>

#include <ATen/cuda/CUDAContext.h>

#include "kernels/conv_prefill/conv_prefill.h"
#include "kernels/conv_step/conv_step.h"
#include "kernels/gemv/gemv.h"
#include "kernels/greedy/greedy.h"
#include "kernels/norm/norm.h"
#include "kernels/ssd_prefill/ssd_prefill.h"
#include "kernels/ssm_step/ssm_step.h"
#include "kernels/torch/adapter_checks.h"
#include "kernels/zero_fill/zero_fill.h"

namespace mamba::cuda {
namespace {

using namespace adapter;  // NOLINT: the adapters' shared checks

// The SSM state pool of one layer: fp32 or bf16.
void checkSsmState(const torch::Tensor& state) {
  checkCuda(state, "ssmState");
  TORCH_CHECK(state.scalar_type() == torch::kFloat32 || state.scalar_type() == torch::kBFloat16,
              "ssmState must be float32 or bfloat16, got ", state.scalar_type());
}

}  // namespace

torch::Tensor convStep(torch::Tensor& convState, const torch::Tensor& slots, const torch::Tensor& zxbcdt,
                       int64_t xbcOffset, const torch::Tensor& weight, const torch::Tensor& bias) {
  checkF32(convState, "convState");
  checkCuda(zxbcdt, "zxbcdt");
  checkF32(weight, "conv weight");
  TORCH_CHECK(convState.dim() == 3 && zxbcdt.dim() == 2, "convState (S, CD, K) and zxbcdt (B, DIP) expected");
  const int64_t B = zxbcdt.size(0), CD = convState.size(1), K = convState.size(2);
  checkSlots(slots, B);
  TORCH_CHECK(weight.sizes() == torch::IntArrayRef({CD, K}), "conv weight must be (CD, K)");
  TORCH_CHECK(xbcOffset >= 0 && xbcOffset + CD <= zxbcdt.size(1), "xBC columns out of range");
  if (bias.defined()) {
    checkF32(bias, "conv bias");
    TORCH_CHECK(bias.numel() == CD, "conv bias must be (CD)");
  }
  TORCH_CHECK(convState.device() == zxbcdt.device() && weight.device() == zxbcdt.device(), "tensors on different devices");
  torch::Tensor out = torch::empty({B, CD}, zxbcdt.options().dtype(torch::kFloat32));
  kernels::ConvStepParams p;
  p.batch = static_cast<int>(B);
  p.channels = static_cast<int>(CD);
  p.kernelSize = static_cast<int>(K);
  p.state = convState.data_ptr<float>();
  p.slots = slots.data_ptr<int32_t>();
  p.input = static_cast<const char*>(zxbcdt.data_ptr()) + xbcOffset * zxbcdt.element_size();
  p.inputStride = zxbcdt.size(1);
  p.inputElem = elemOf(zxbcdt);
  p.weight = weight.data_ptr<float>();
  p.bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
  p.out = out.data_ptr<float>();
  launch([&] { kernels::launchConvStep(p, stream()); });
  return out;
}

torch::Tensor ssmStep(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& xbc,
                      const torch::Tensor& zxbcdt, int64_t dtOffset, const torch::Tensor& dtBias,
                      const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups, double dtMin, double dtMax) {
  checkSsmState(ssmState);
  checkF32(xbc, "xbc");
  checkCuda(zxbcdt, "zxbcdt");
  for (auto* t : {&dtBias, &A, &D}) checkF32(*t, "dt_bias/A/D");
  TORCH_CHECK(ssmState.dim() == 4, "ssmState must be (S, H, P, N)");
  const int64_t B = xbc.size(0), H = ssmState.size(1), P = ssmState.size(2), N = ssmState.size(3);
  checkSlots(slots, B);
  TORCH_CHECK(nGroups >= 1 && H % nGroups == 0, "n_groups must divide H");
  TORCH_CHECK(xbc.size(1) == H * P + 2 * nGroups * N, "xbc must be (B, Di + 2GN)");
  TORCH_CHECK(zxbcdt.size(0) == B && dtOffset >= 0 && dtOffset + H <= zxbcdt.size(1), "dt columns out of range");
  TORCH_CHECK(dtBias.numel() == H && A.numel() == H && D.numel() == H, "dt_bias, A and D must be (H)");
  TORCH_CHECK(N >= 1 && N <= 1024, "state size must be in 1..1024");
  torch::Tensor y = torch::empty({B, H * P}, xbc.options());
  kernels::SsmStepParams p;
  p.batch = static_cast<int>(B);
  p.nHeads = static_cast<int>(H);
  p.headDim = static_cast<int>(P);
  p.nGroups = static_cast<int>(nGroups);
  p.stateSize = static_cast<int>(N);
  p.dInner = static_cast<int>(H * P);
  p.state = ssmState.data_ptr();
  p.stateElem = elemOf(ssmState);
  p.slots = slots.data_ptr<int32_t>();
  p.xbc = xbc.data_ptr<float>();
  p.xbcStride = xbc.size(1);
  p.dtRaw = static_cast<const char*>(zxbcdt.data_ptr()) + dtOffset * zxbcdt.element_size();
  p.dtStride = zxbcdt.size(1);
  p.dtElem = elemOf(zxbcdt);
  p.dtBias = dtBias.data_ptr<float>();
  p.A = A.data_ptr<float>();
  p.D = D.data_ptr<float>();
  p.dtMin = static_cast<float>(dtMin);
  p.dtMax = static_cast<float>(std::min(dtMax, 3.4e38));
  p.y = y.data_ptr<float>();
  launch([&] { kernels::launchSsmStep(p, stream()); });
  return y;
}

torch::Tensor gatedRmsNorm(const torch::Tensor& y, const torch::Tensor& zxbcdt, const torch::Tensor& weight,
                           int64_t groups, double eps, bool allowVector) {
  checkF32(y, "y");
  checkCuda(zxbcdt, "zxbcdt");
  checkCuda(weight, "gated norm weight");
  const int64_t B = y.size(0), Di = y.size(1);
  TORCH_CHECK(zxbcdt.size(0) == B && zxbcdt.size(1) >= Di, "z columns out of range");
  TORCH_CHECK(weight.numel() == Di && weight.scalar_type() == zxbcdt.scalar_type(), "weight must be (Di) of z's dtype");
  TORCH_CHECK(groups >= 1 && Di % groups == 0, "groups must divide Di");
  torch::Tensor out = torch::empty({B, Di}, zxbcdt.options());
  kernels::GatedRmsNormParams p;
  p.rows = static_cast<int>(B);
  p.width = static_cast<int>(Di);
  p.groups = static_cast<int>(groups);
  p.y = y.data_ptr<float>();
  p.z = zxbcdt.data_ptr();
  p.zStride = zxbcdt.size(1);
  p.weight = weight.data_ptr();
  p.out = out.data_ptr();
  p.eps = static_cast<float>(eps);
  p.elem = elemOf(zxbcdt);
  p.allowVector = allowVector;
  launch([&] { kernels::launchGatedRmsNorm(p, stream()); });
  return out;
}

bool gemvSupports(int64_t batch, int64_t K, torch::ScalarType dtype) {
  const int64_t v = 16 / static_cast<int64_t>(c10::elementSize(dtype));
  return batch >= 1 && batch <= kernels::kGemvMaxBatch && K % v == 0 &&
         kernels::gemvSharedBytes(static_cast<int>(batch), static_cast<int>(K)) <= kernels::kGemvMaxSharedBytes;
}

namespace {

// Validates weight/bias of a (B, K) -> (B, M) product and fills the common params; allocates
// the (B, M) output into *out unless out is null.
kernels::GemvParams gemvParams(int64_t B, int64_t K, const torch::Tensor& weight, const torch::Tensor& bias,
                               torch::Tensor* out) {
  checkCuda(weight, "weight");
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == K, "weight must be (M, K) with K = ", K);
  TORCH_CHECK(reinterpret_cast<uintptr_t>(weight.data_ptr()) % 16 == 0, "weight must be 16-byte aligned");
  TORCH_CHECK(gemvSupports(B, K, weight.scalar_type()), "gemv: unsupported batch ", B, " or K ", K);
  if (bias.defined()) {
    checkCuda(bias, "bias");
    TORCH_CHECK(bias.numel() == weight.size(0) && bias.scalar_type() == weight.scalar_type(), "bias must be (M) of weight's dtype");
  }
  checkSameDevice({&weight, &bias});
  return productParams(B, K, weight, bias, out);
}

}  // namespace

torch::Tensor gemv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) {
  TORCH_CHECK(x.defined() && x.is_cuda() && x.dim() == 2 && x.stride(1) == 1, "x must be a CUDA (B, K) tensor with unit column stride");
  TORCH_CHECK(x.scalar_type() == weight.scalar_type(), "x must have weight's dtype");
  torch::Tensor out;
  kernels::GemvParams p = gemvParams(x.size(0), x.size(1), weight, bias, &out);
  checkSameDevice({&weight, &x});
  p.x = x.data_ptr();
  p.xStride = x.stride(0);
  launch([&] { kernels::launchGemv(p, stream()); });
  return out;
}

torch::Tensor gatedRmsNormGemv(const torch::Tensor& y, const torch::Tensor& zxbcdt, const torch::Tensor& normWeight,
                               int64_t groups, double eps, const torch::Tensor& weight, const torch::Tensor& bias) {
  checkF32(y, "y");
  TORCH_CHECK(y.dim() == 2, "y must be (B, Di)");
  checkCuda(zxbcdt, "zxbcdt");
  checkCuda(normWeight, "gated norm weight");
  torch::Tensor out;
  kernels::GemvParams p = gemvParams(y.size(0), y.size(1), weight, bias, &out);
  setGatedPrologue(p, y, zxbcdt, normWeight, groups, eps, weight);
  launch([&] { kernels::launchGemv(p, stream()); });
  return out;
}

void gatedRmsNormGemvResidual(torch::Tensor& residual, const torch::Tensor& y, const torch::Tensor& zxbcdt,
                              const torch::Tensor& normWeight, int64_t groups, double eps, const torch::Tensor& weight,
                              const torch::Tensor& bias) {
  checkF32(y, "y");
  TORCH_CHECK(y.dim() == 2, "y must be (B, Di)");
  checkCuda(zxbcdt, "zxbcdt");
  checkCuda(normWeight, "gated norm weight");
  checkF32(residual, "residual");
  kernels::GemvParams p = gemvParams(y.size(0), y.size(1), weight, bias, nullptr);
  setGatedPrologue(p, y, zxbcdt, normWeight, groups, eps, weight);
  setResidualAdd(p, residual, y, weight);
  launch([&] { kernels::launchGemv(p, stream()); });
}

RmsNormGemvConvResult rmsNormGemvConvStep(const torch::Tensor& residual, const torch::Tensor& normWeight, double eps,
                                          const torch::Tensor& weight, const torch::Tensor& bias,
                                          torch::Tensor& convState, const torch::Tensor& slots, int64_t xbcOffset,
                                          const torch::Tensor& convWeight, const torch::Tensor& convBias) {
  checkF32(residual, "residual");
  TORCH_CHECK(residual.dim() == 2, "residual must be (B, K)");
  RmsNormGemvConvResult r;
  kernels::GemvParams p = gemvParams(residual.size(0), residual.size(1), weight, bias, &r.zxbcdt);
  setRmsNormConvStep(p, residual, normWeight, eps, weight, convState, slots, xbcOffset, convWeight, convBias, &r.xbc);
  launch([&] { kernels::launchGemv(p, stream()); });
  return r;
}

torch::Tensor greedyPick(const torch::Tensor& logits, int64_t vocab) {
  TORCH_CHECK(logits.defined() && logits.is_cuda() && logits.dim() == 2 && logits.stride(1) == 1,
              "logits must be a CUDA (R, V) tensor with unit column stride");
  TORCH_CHECK(logits.scalar_type() == torch::kFloat32, "logits must be float32, got ", logits.scalar_type());
  TORCH_CHECK(vocab >= 1 && vocab <= logits.size(1), "vocab must be in [1, ", logits.size(1), "]");
  torch::Tensor out = torch::empty({logits.size(0), 2}, logits.options().dtype(torch::kFloat64));
  kernels::GreedyPickParams p;
  p.rows = static_cast<int>(logits.size(0));
  p.vocab = static_cast<int>(vocab);
  p.logits = logits.data_ptr<float>();
  p.stride = logits.stride(0);
  p.out = out.data_ptr<double>();
  p.chunks = kernels::greedyPickChunks(p.rows, p.vocab);
  torch::Tensor scratch = torch::empty({logits.size(0), p.chunks, 3}, out.options());
  p.scratch = scratch.data_ptr<double>();
  launch([&] { kernels::launchGreedyPick(p, stream()); });
  return out;
}

void zeroSlot(const std::vector<torch::Tensor>& pools, int64_t slot) {
  static_assert(kZeroSlotMaxPools <= kernels::kZeroFillMaxRanges);
  TORCH_CHECK(static_cast<int64_t>(pools.size()) <= kZeroSlotMaxPools, "zeroSlot: at most ", kZeroSlotMaxPools,
              " tensors, got ", pools.size());
  kernels::ZeroFillParams p;
  for (const torch::Tensor& t : pools) {
    checkCuda(t, "pool");
    TORCH_CHECK(t.device() == pools.front().device(), "zeroSlot: every pool on one device");
    TORCH_CHECK(t.dim() >= 1, "zeroSlot: pools need a slot dimension");  // checkCuda: contiguous
    TORCH_CHECK(slot >= 0 && slot < t.size(0), "zeroSlot: slot ", slot, " out of range [0, ", t.size(0), ")");
    const int64_t bytes = t.stride(0) * static_cast<int64_t>(t.element_size());
    p.ptr[p.count] = static_cast<char*>(t.data_ptr()) + slot * bytes;
    p.bytes[p.count] = bytes;
    ++p.count;
  }
  launch([&] { kernels::launchZeroFill(p, stream()); });
}

torch::Tensor addRmsNorm(torch::Tensor& residual, const torch::Tensor& delta, bool assign, const torch::Tensor& weight,
                         double eps, const DeltaRowScale& deltaScale, bool allowVector) {
  checkF32(residual, "residual");
  checkCuda(weight, "norm weight");
  const int64_t R = residual.size(0), W = residual.size(1);
  TORCH_CHECK(weight.numel() == W, "norm weight must be (W)");
  if (delta.defined()) {
    checkCuda(delta, "delta");
    TORCH_CHECK(delta.sizes() == residual.sizes() && delta.scalar_type() == weight.scalar_type(), "delta must be (R, W) of weight's dtype");
  }
  TORCH_CHECK(!assign || delta.defined(), "assign needs a delta");
  torch::Tensor out = torch::empty({R, W}, weight.options());
  kernels::AddRmsNormParams p;
  p.rows = static_cast<int>(R);
  p.width = static_cast<int>(W);
  p.residual = residual.data_ptr<float>();
  p.delta = delta.defined() ? delta.data_ptr() : nullptr;
  p.assign = assign;
  p.weight = weight.data_ptr();
  p.out = out.data_ptr();
  p.eps = static_cast<float>(eps);
  p.elem = elemOf(weight);
  p.allowVector = allowVector;
  if (deltaScale.sumSq.defined()) {
    checkF32(deltaScale.sumSq, "delta row scale sums");
    TORCH_CHECK(delta.defined() && !assign, "a delta row scale needs a delta that is added");
    TORCH_CHECK(deltaScale.sumSq.dim() == 2 && deltaScale.sumSq.size(0) == R && deltaScale.sumSq.is_contiguous(),
                "delta row scale sums must be (R, parts) contiguous");
    TORCH_CHECK(deltaScale.width >= 1, "delta row scale width must be >= 1");
    checkSameDevice({&residual, &deltaScale.sumSq});
    p.deltaSumSq = deltaScale.sumSq.data_ptr<float>();
    p.deltaSumSqParts = static_cast<int>(deltaScale.sumSq.size(1));
    p.deltaNormWidth = static_cast<int>(deltaScale.width);
    p.deltaEps = static_cast<float>(deltaScale.eps);
  }
  launch([&] { kernels::launchAddRmsNorm(p, stream()); });
  return out;
}

ConvPrefillResult convPrefill(torch::Tensor& convState, const torch::Tensor& slots, const torch::Tensor& cont,
                              const torch::Tensor& lengths, const torch::Tensor& zxbcdt, int64_t xbcOffset,
                              const torch::Tensor& weight, const torch::Tensor& bias, int64_t dtOffset,
                              const torch::Tensor& dtBias, double dtMin, double dtMax, torch::ScalarType outDtype,
                              int64_t dInner, int64_t stateSize, int64_t statePitch, bool allowVector) {
  checkF32(convState, "convState");
  checkCuda(zxbcdt, "zxbcdt");
  checkF32(weight, "conv weight");
  TORCH_CHECK(convState.dim() == 3 && zxbcdt.dim() == 3, "convState (S, CD, K) and zxbcdt (B, L, DIP) expected");
  const int64_t B = zxbcdt.size(0), L = zxbcdt.size(1), DIP = zxbcdt.size(2);
  const int64_t CD = convState.size(1), K = convState.size(2);
  checkSlots(slots, B);
  checkInt32(cont, B, "cont");
  checkInt32(lengths, B, "lengths");
  TORCH_CHECK(K >= 1 && K <= 16, "conv kernel size must be in 1..16");
  TORCH_CHECK(weight.sizes() == torch::IntArrayRef({CD, K}), "conv weight must be (CD, K)");
  TORCH_CHECK(xbcOffset >= 0 && xbcOffset + CD <= DIP, "xBC columns out of range");
  if (bias.defined()) {
    checkF32(bias, "conv bias");
    TORCH_CHECK(bias.numel() == CD, "conv bias must be (CD)");
  }
  const int64_t H = dtBias.defined() ? dtBias.numel() : 0;
  if (dtBias.defined()) {
    checkF32(dtBias, "dt bias");
    TORCH_CHECK(dtOffset >= 0 && dtOffset + H <= DIP, "dt columns out of range");
  }
  TORCH_CHECK(outDtype == torch::kFloat32 || outDtype == zxbcdt.scalar_type(), "outDtype must be float32 or zxbcdt's dtype");
  TORCH_CHECK(B <= 65535 && (L + 31) / 32 <= 65535, "batch or length too large");
  checkSameDevice({&zxbcdt, &convState, &slots, &cont, &lengths, &weight, &bias, &dtBias});
  if (statePitch > 0) {
    TORCH_CHECK(stateSize >= 1 && statePitch >= stateSize && dInner >= 0 && dInner <= CD &&
                    (CD - dInner) % stateSize == 0,
                "statePitch layout: need stateSize >= 1, statePitch >= stateSize and CD - dInner a multiple of stateSize");
  }
  kernels::ConvPrefillParams p;
  p.channels = static_cast<int>(CD);
  if (statePitch > 0) {
    p.outDInner = static_cast<int>(dInner);
    p.outStateSize = static_cast<int>(stateSize);
    p.outPitch = static_cast<int>(statePitch);
  }
  ConvPrefillResult r;
  r.xbc = torch::empty({B, L, kernels::convPrefillOutWidth(p)}, zxbcdt.options().dtype(outDtype));
  if (H > 0) r.dt = torch::empty({B, L, H}, zxbcdt.options().dtype(torch::kFloat32));
  p.batch = static_cast<int>(B);
  p.seqLen = static_cast<int>(L);
  p.kernelSize = static_cast<int>(K);
  p.state = convState.data_ptr<float>();
  p.slots = slots.data_ptr<int32_t>();
  p.cont = cont.data_ptr<int32_t>();
  p.lengths = lengths.data_ptr<int32_t>();
  p.input = static_cast<const char*>(zxbcdt.data_ptr()) + xbcOffset * zxbcdt.element_size();
  p.inputStride = DIP;
  p.inputElem = elemOf(zxbcdt);
  p.weight = weight.data_ptr<float>();
  p.bias = bias.defined() ? bias.data_ptr<float>() : nullptr;
  p.out = r.xbc.data_ptr();
  p.outElem = elemOf(r.xbc);
  p.allowVector = allowVector;
  if (H > 0) {
    p.nHeads = static_cast<int>(H);
    p.dtRaw = static_cast<const char*>(zxbcdt.data_ptr()) + dtOffset * zxbcdt.element_size();
    p.dtBias = dtBias.data_ptr<float>();
    p.dtMin = static_cast<float>(dtMin);
    p.dtMax = static_cast<float>(std::min(dtMax, 3.4e38));
    p.dtOut = r.dt.data_ptr<float>();
  }
  launch([&] { kernels::launchConvPrefill(p, stream()); });
  return r;
}

namespace {

// The shape fields of an SSD call (what ssdPrefillSingleTile decides on; one group, no pitch).
kernels::SsdPrefillParams ssdShape(int64_t B, int64_t L, int64_t H, int64_t P, int64_t N, int64_t chunkSize) {
  kernels::SsdPrefillParams p;
  p.batch = static_cast<int>(B);
  p.seqLen = static_cast<int>(L);
  p.nHeads = static_cast<int>(H);
  p.headDim = static_cast<int>(P);
  p.stateSize = static_cast<int>(N);
  p.chunkSize = static_cast<int>(chunkSize);
  return p;
}

// The checked parameters of an SSD call, without its outputs and workspace.
kernels::SsdPrefillParams ssdCallParams(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& cont,
                                        const torch::Tensor& lengths, const torch::Tensor& xbc, const torch::Tensor& dt,
                                        const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups,
                                        int64_t chunkSize, int64_t statePitch) {
  checkSsmState(ssmState);
  checkCuda(xbc, "xbc");
  checkF32(dt, "dt");
  checkF32(A, "A");
  checkF32(D, "D");
  TORCH_CHECK(ssmState.dim() == 4 && xbc.dim() == 3 && dt.dim() == 3, "ssmState (S, H, P, N), xbc (B, L, CD), dt (B, L, H) expected");
  const int64_t B = xbc.size(0), L = xbc.size(1);
  const int64_t H = ssmState.size(1), P = ssmState.size(2), N = ssmState.size(3);
  checkSlots(slots, B);
  checkInt32(cont, B, "cont");
  checkInt32(lengths, B, "lengths");
  TORCH_CHECK(nGroups >= 1 && H % nGroups == 0, "n_groups must divide H");
  const int64_t Np = statePitch > 0 ? statePitch : N;
  TORCH_CHECK(Np >= N, "statePitch must be >= N");
  TORCH_CHECK(xbc.size(2) == H * P + 2 * nGroups * Np, "xbc must be (B, L, H*P + 2*G*Np)");
  TORCH_CHECK(dt.size(0) == B && dt.size(1) == L && dt.size(2) == H, "dt must be (B, L, H)");
  TORCH_CHECK(A.numel() == H && D.numel() == H, "A and D must be (H)");
  TORCH_CHECK(chunkSize >= 1 && chunkSize <= kSsdPrefillMaxChunk, "chunk size must be in 1..", kSsdPrefillMaxChunk);
  TORCH_CHECK(B <= 65535 && (L + chunkSize - 1) / chunkSize <= 65535, "batch or chunk count too large");
  checkSameDevice({&xbc, &ssmState, &slots, &cont, &lengths, &dt, &A, &D});
  kernels::SsdPrefillParams p = ssdShape(B, L, H, P, N, chunkSize);
  p.nGroups = static_cast<int>(nGroups);
  p.statePitch = static_cast<int>(Np);
  p.state = ssmState.data_ptr();
  p.stateElem = elemOf(ssmState);
  p.slots = slots.data_ptr<int32_t>();
  p.cont = cont.data_ptr<int32_t>();
  p.lengths = lengths.data_ptr<int32_t>();
  p.xbc = xbc.data_ptr();
  p.elem = elemOf(xbc);
  p.dt = dt.data_ptr<float>();
  p.A = A.data_ptr<float>();
  p.D = D.data_ptr<float>();
  return p;
}

}  // namespace

torch::Tensor ssdPrefill(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& cont,
                         const torch::Tensor& lengths, const torch::Tensor& xbc, const torch::Tensor& dt,
                         const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups, int64_t chunkSize,
                         int64_t statePitch, bool allowSingleTile, kernels::SsdSequential sequential) {
  kernels::SsdPrefillParams p =
      ssdCallParams(ssmState, slots, cont, lengths, xbc, dt, A, D, nGroups, chunkSize, statePitch);
  torch::Tensor y = torch::empty({p.batch, p.seqLen, p.nHeads * p.headDim}, xbc.options().dtype(torch::kFloat32));
  p.y = y.data_ptr<float>();
  p.allowSingleTile = allowSingleTile;
  p.sequential = sequential;
  // One workspace block from the caching allocator, carved into 256-byte aligned buffers (no
  // initialisation needed; see ssd_prefill.h).
  const kernels::SsdPrefillWorkspace ws = kernels::ssdPrefillWorkspace(p);
  auto aligned = [](int64_t bytes) { return (bytes + 255) / 256 * 256; };
  const int64_t statesBytes = aligned(ws.chunkStates * 4), initBytes = aligned(ws.chunkInit * xbc.element_size());
  const int64_t decayBytes = aligned(ws.chunkLogDecay * 4), cbBytes = aligned(ws.cb * 4);
  torch::Tensor workspace =
      torch::empty({statesBytes + initBytes + decayBytes + cbBytes}, xbc.options().dtype(torch::kUInt8));
  char* base = static_cast<char*>(workspace.data_ptr());
  p.chunkStates = reinterpret_cast<float*>(base);
  p.chunkInit = base + statesBytes;
  p.chunkLogDecay = reinterpret_cast<float*>(base + statesBytes + initBytes);
  p.cb = reinterpret_cast<float*>(base + statesBytes + initBytes + decayBytes);
  launch([&] { kernels::launchSsdPrefill(p, stream()); });
  return y;
}

SsdGatedResult ssdPrefillGated(torch::Tensor& ssmState, const torch::Tensor& slots, const torch::Tensor& cont,
                               const torch::Tensor& lengths, const torch::Tensor& xbc, const torch::Tensor& dt,
                               const torch::Tensor& A, const torch::Tensor& D, int64_t nGroups, int64_t statePitch,
                               const torch::Tensor& zxbcdt, const torch::Tensor& normWeight,
                               kernels::SsdSequential sequential) {
  // The chunk size only names the chunked kernels' Q; the sequential kernel walks chunks of 64.
  kernels::SsdPrefillParams p =
      ssdCallParams(ssmState, slots, cont, lengths, xbc, dt, A, D, nGroups, kSsdPrefillMaxChunk, statePitch);
  const int64_t B = p.batch, L = p.seqLen, Di = static_cast<int64_t>(p.nHeads) * p.headDim;
  checkCuda(zxbcdt, "zxbcdt");
  checkCuda(normWeight, "gated norm weight");
  checkSameDevice({&xbc, &zxbcdt, &normWeight});
  TORCH_CHECK(zxbcdt.dim() == 3 && zxbcdt.size(0) == B && zxbcdt.size(1) == L && zxbcdt.size(2) >= Di,
              "zxbcdt must be (B, L, >= H*P)");
  TORCH_CHECK(zxbcdt.stride(2) == 1 && zxbcdt.stride(0) == L * zxbcdt.stride(1),
              "zxbcdt must have unit column stride and rows of one stride");
  TORCH_CHECK(zxbcdt.scalar_type() == xbc.scalar_type() && normWeight.scalar_type() == xbc.scalar_type(),
              "zxbcdt and the gated norm weight must have xbc's dtype");
  TORCH_CHECK(normWeight.numel() == Di && normWeight.is_contiguous(), "gated norm weight must be (H*P) contiguous");
  SsdGatedResult r;
  r.gated = torch::empty({B, L, Di}, xbc.options());
  r.sumSq = torch::empty({B * L, kernels::ssdGateParts(p.nHeads, p.headDim)}, xbc.options().dtype(torch::kFloat32));
  p.gateZ = zxbcdt.data_ptr();
  p.gateZStride = zxbcdt.stride(1);
  p.gateWeight = normWeight.data_ptr();
  p.gated = r.gated.data_ptr();
  p.gateSumSq = r.sumSq.data_ptr<float>();
  p.sequential = sequential;
  TORCH_CHECK(kernels::ssdPrefillSequential(p),
              "ssdPrefillGated: the sequential-chunk kernel does not take this call (shape, dtype, alignment or device)");
  launch([&] { kernels::launchSsdPrefill(p, stream()); });
  return r;
}

bool ssdPrefillSingleTile(int64_t B, int64_t L, int64_t H, int64_t P, int64_t N, int64_t chunkSize) {
  return kernels::ssdPrefillSingleTile(ssdShape(B, L, H, P, N, chunkSize));
}

bool ssdPrefillSequential(int64_t B, int64_t L, int64_t H, int64_t P, int64_t N, int64_t chunkSize,
                          torch::ScalarType dtype, kernels::SsdSequential mode) {
  kernels::SsdPrefillParams p = ssdShape(B, L, H, P, N, chunkSize);
  p.elem = elemOf(dtype);
  p.sequential = mode;
  return kernels::ssdPrefillSequential(p);
}

namespace adapter {

kernels::GemvParams productParams(int64_t B, int64_t K, const torch::Tensor& weight, const torch::Tensor& bias,
                                  torch::Tensor* out) {
  kernels::GemvParams p;
  p.batch = static_cast<int>(B);
  p.rows = static_cast<int>(weight.size(0));
  p.cols = static_cast<int>(K);
  p.weight = weight.data_ptr();
  p.bias = bias.defined() ? bias.data_ptr() : nullptr;
  if (out != nullptr) {
    *out = torch::empty({B, weight.size(0)}, weight.options());
    p.out = out->data_ptr();
  }
  p.elem = elemOf(weight);
  return p;
}

void setRmsNormConvStep(kernels::GemvParams& p, const torch::Tensor& residual, const torch::Tensor& normWeight,
                        double eps, const torch::Tensor& weight, torch::Tensor& convState, const torch::Tensor& slots,
                        int64_t xbcOffset, const torch::Tensor& convWeight, const torch::Tensor& convBias,
                        torch::Tensor* xbc) {
  checkF32(residual, "residual");
  checkCuda(normWeight, "norm weight");
  checkF32(convState, "convState");
  checkF32(convWeight, "conv weight");
  TORCH_CHECK(residual.dim() == 2 && convState.dim() == 3, "residual (B, K) and convState (S, CD, K) expected");
  const int64_t B = residual.size(0), K = residual.size(1), CD = convState.size(1), Kc = convState.size(2);
  TORCH_CHECK(normWeight.numel() == K && normWeight.scalar_type() == weight.scalar_type(),
              "norm weight must be (K) of weight's dtype");
  checkSlots(slots, B);
  TORCH_CHECK(Kc >= 1 && Kc <= 16, "conv kernel size must be in 1..16");
  TORCH_CHECK(convWeight.sizes() == torch::IntArrayRef({CD, Kc}), "conv weight must be (CD, K)");
  TORCH_CHECK(xbcOffset >= 0 && xbcOffset + CD <= weight.size(0), "xBC rows out of range");
  if (convBias.defined()) {
    checkF32(convBias, "conv bias");
    TORCH_CHECK(convBias.numel() == CD, "conv bias must be (CD)");
  }
  checkSameDevice({&weight, &residual, &normWeight, &convState, &slots, &convWeight, &convBias});
  *xbc = torch::empty({B, CD}, residual.options());
  p.prologue = kernels::GemvPrologue::kRmsNorm;
  p.normInput = residual.data_ptr<float>();
  p.normWeight = normWeight.data_ptr();
  p.eps = static_cast<float>(eps);
  p.epilogue = kernels::GemvEpilogue::kStoreConvStep;
  p.conv.row0 = static_cast<int>(xbcOffset);
  p.conv.channels = static_cast<int>(CD);
  p.conv.kernelSize = static_cast<int>(Kc);
  p.conv.state = convState.data_ptr<float>();
  p.conv.slots = slots.data_ptr<int32_t>();
  p.conv.weight = convWeight.data_ptr<float>();
  p.conv.bias = convBias.defined() ? convBias.data_ptr<float>() : nullptr;
  p.conv.out = xbc->data_ptr<float>();
}

void setGatedPrologue(kernels::GemvParams& p, const torch::Tensor& y, const torch::Tensor& zxbcdt,
                      const torch::Tensor& normWeight, int64_t groups, double eps, const torch::Tensor& weight) {
  const int64_t B = y.size(0), Di = y.size(1);
  TORCH_CHECK(zxbcdt.size(0) == B && zxbcdt.size(1) >= Di, "z columns out of range");
  TORCH_CHECK(normWeight.numel() == Di && normWeight.scalar_type() == zxbcdt.scalar_type() &&
                  weight.scalar_type() == zxbcdt.scalar_type(),
              "norm weight (Di) and weight must have z's dtype");
  TORCH_CHECK(groups >= 1 && Di % groups == 0, "groups must divide Di");
  checkSameDevice({&weight, &y, &zxbcdt, &normWeight});
  p.prologue = kernels::GemvPrologue::kGatedRmsNorm;
  p.y = y.data_ptr<float>();
  p.z = zxbcdt.data_ptr();
  p.zStride = zxbcdt.size(1);
  p.normWeight = normWeight.data_ptr();
  p.groups = static_cast<int>(groups);
  p.eps = static_cast<float>(eps);
}

void setResidualAdd(kernels::GemvParams& p, torch::Tensor& residual, const torch::Tensor& y,
                    const torch::Tensor& weight) {
  TORCH_CHECK(residual.dim() == 2 && residual.size(0) == y.size(0) && residual.size(1) == weight.size(0),
              "residual must be (B, N)");
  checkSameDevice({&weight, &residual});
  p.epilogue = kernels::GemvEpilogue::kResidualAdd;
  p.residual = residual.data_ptr<float>();
}

}  // namespace adapter

}  // namespace mamba::cuda
