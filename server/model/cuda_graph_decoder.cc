#include "server/model/cuda_graph_decoder.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>

namespace mamba {

CudaGraphDecoder::CudaGraphDecoder(const Mamba2Model& model, StatePool& pool, int64_t maxBatch)
    : model_(model), pool_(pool), maxBatch_(maxBatch) {
  if (!model.device().is_cuda()) throw StatusError(invalidArgument("CudaGraphDecoder needs a CUDA model"));
  // tokens (int64) | slots (int32) in one byte buffer; views of it keep their dtypes.
  const int64_t ioBytes = maxBatch * static_cast<int64_t>(sizeof(int64_t) + sizeof(int32_t));
  auto views = [maxBatch](const torch::Tensor& io, torch::Tensor& tokens, torch::Tensor& slots) {
    tokens = io.narrow(0, 0, maxBatch * 8).view(torch::kLong);
    slots = io.narrow(0, maxBatch * 8, maxBatch * 4).view(torch::kInt);
    tokens.zero_();
    slots.fill_(-1);
  };
  auto pinned = torch::TensorOptions().pinned_memory(true);
  for (Staging& s : staging_) {
    s.io = torch::empty({ioBytes}, pinned.dtype(torch::kUInt8));
    views(s.io, s.tokens, s.slots);
    s.index = torch::zeros({2 * maxBatch}, pinned.dtype(torch::kLong));
  }
  auto device = torch::TensorOptions().device(model.device());
  io_ = torch::empty({ioBytes}, device.dtype(torch::kUInt8));
  views(io_, tokens_, slots_);
  index_ = torch::zeros({2 * maxBatch}, device.dtype(torch::kLong));
  memPool_ = at::cuda::graph_pool_handle();  // shared by this decoder's buckets (replayed one at a time)
}

CudaGraphDecoder::~CudaGraphDecoder() = default;

CudaGraphDecoder::Bucket& CudaGraphDecoder::bucketFor(int64_t batch) {
  int64_t size = 1;
  while (size < batch) size *= 2;
  size = std::min(size, maxBatch_);
  auto it = buckets_.find(size);
  if (it != buckets_.end()) return it->second;

  // Capture on a side stream with every slot at -1: warm-up and capture touch no state. The
  // side stream is not ordered after the current one, so wait for the steps still running
  // there (they read tokens_ and slots_) before the fill (once per bucket).
  c10::cuda::CUDAGuard deviceGuard(model_.device());
  at::cuda::getCurrentCUDAStream().synchronize();
  slots_.fill_(-1);
  deviceSlots_.clear();
  at::cuda::getCurrentCUDAStream().synchronize();
  at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
  side.synchronize();
  Bucket b;
  {
    at::cuda::CUDAStreamGuard streamGuard(side);
    torch::Tensor tok = tokens_.narrow(0, 0, size), sl = slots_.narrow(0, 0, size);
    for (int i = 0; i < 2; ++i) model_.decodeTensors(tok, sl, pool_);
    b.graph = std::make_unique<at::cuda::CUDAGraph>();
    // Thread-local capture: another thread (an admin load or calibration on this device) may
    // allocate or launch meanwhile; global mode would fail its calls (and this capture).
    b.graph->capture_begin(memPool_, cudaStreamCaptureModeThreadLocal);
    b.logits = model_.decodeTensors(tok, sl, pool_);
    b.graph->capture_end();
  }
  side.synchronize();
  return buckets_.emplace(size, std::move(b)).first->second;
}

bool CudaGraphDecoder::checkDeviceTokens(const DeviceTokens& d, int64_t batch) const {
  const int64_t n = static_cast<int64_t>(d.src.size());
  if (d.dst.size() != d.src.size() || n > batch || (n > 0 && (d.values.dim() != 1 || !d.values.is_cuda()))) {
    throw StatusError(invalidArgument("device tokens must be 1-D on the GPU with one destination row each"));
  }
  bool prefix = true;
  for (int64_t k = 0; k < n; ++k) {
    const int32_t src = d.src[static_cast<size_t>(k)], dst = d.dst[static_cast<size_t>(k)];
    if (src < 0 || src >= d.values.size(0) || dst < 0 || dst >= batch) {
      throw StatusError(invalidArgument("device token row out of range"));
    }
    prefix = prefix && src == k && dst == k;
  }
  return prefix;
}

void CudaGraphDecoder::applyDeviceTokens(const DeviceTokens& d, bool prefix, Staging& staging) {
  const int64_t n = static_cast<int64_t>(d.src.size());
  if (n == 0) return;
  if (prefix) {
    tokens_.narrow(0, 0, n).copy_(d.values.narrow(0, 0, n));  // one kernel, converts the dtype
    return;
  }
  int64_t* idx = staging.index.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k) {
    idx[k] = d.src[static_cast<size_t>(k)];
    idx[maxBatch_ + k] = d.dst[static_cast<size_t>(k)];
  }
  index_.copy_(staging.index, /*non_blocking=*/true);
  torch::Tensor picked = d.values.index_select(0, index_.narrow(0, 0, n)).to(torch::kLong);
  tokens_.index_copy_(0, index_.narrow(0, maxBatch_, n), picked);
}

torch::Tensor CudaGraphDecoder::decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                                       const DeviceTokens* fromDevice) {
  const int64_t B = static_cast<int64_t>(tokens.size());
  if (B < 1 || B > maxBatch_ || slots.size() != tokens.size()) {
    throw StatusError(invalidArgument("decode batch must be in [1, " + std::to_string(maxBatch_) + "]"));
  }
  const bool prefix = fromDevice ? checkDeviceTokens(*fromDevice, B) : false;
  Bucket& bucket = bucketFor(B);
  const int64_t size = bucket.logits.size(0);
  // This buffer's previous copies were issued two calls ago: by now they have normally run,
  // and waiting for them does not wait for the step issued by the last call.
  Staging& staging = staging_[static_cast<size_t>(next_)];
  next_ ^= 1;
  if (staging.copied) staging.copied->synchronize();
  // Rows [0, size) of the bucket: the step's slots, then -1 padding.
  bool slotsUnchanged = static_cast<int64_t>(deviceSlots_.size()) == size;
  for (int64_t i = 0; i < size && slotsUnchanged; ++i) {
    slotsUnchanged = deviceSlots_[static_cast<size_t>(i)] == (i < B ? slots[static_cast<size_t>(i)] : -1);
  }
  const bool allFromDevice = prefix && static_cast<int64_t>(fromDevice->src.size()) == B;
  if (!(allFromDevice && slotsUnchanged)) {
    int64_t* tok = staging.tokens.data_ptr<int64_t>();
    int32_t* sl = staging.slots.data_ptr<int32_t>();
    deviceSlots_.resize(static_cast<size_t>(size));
    for (int64_t i = 0; i < size; ++i) {
      tok[i] = i < B ? tokens[static_cast<size_t>(i)] : 0;
      sl[i] = i < B ? slots[static_cast<size_t>(i)] : -1;
      deviceSlots_[static_cast<size_t>(i)] = sl[i];
    }
    // Tokens and slots in one copy: the whole buffer (at most 12 bytes per row of maxBatch).
    io_.copy_(staging.io, /*non_blocking=*/true);
  }
  if (fromDevice) applyDeviceTokens(*fromDevice, prefix, staging);
  if (!staging.copied) staging.copied.emplace(c10::DeviceType::CUDA);
  staging.copied->record(at::cuda::getCurrentCUDAStream());
  bucket.graph->replay();
  return bucket.logits.narrow(0, 0, B);
}

}  // namespace mamba
