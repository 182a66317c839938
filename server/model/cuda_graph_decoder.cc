#include "server/model/cuda_graph_decoder.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>

namespace mamba {

CudaGraphDecoder::CudaGraphDecoder(const Mamba2Model& model, StatePool& pool, int64_t maxBatch)
    : model_(model), pool_(pool), maxBatch_(maxBatch) {
  if (!model.device().is_cuda()) throw StatusError(invalidArgument("CudaGraphDecoder needs a CUDA model"));
  auto pinned = torch::TensorOptions().pinned_memory(true);
  tokensHost_ = torch::zeros({maxBatch}, pinned.dtype(torch::kLong));
  slotsHost_ = torch::full({maxBatch}, -1, pinned.dtype(torch::kInt));
  tokens_ = torch::zeros({maxBatch}, torch::TensorOptions().dtype(torch::kLong).device(model.device()));
  slots_ = torch::full({maxBatch}, -1, torch::TensorOptions().dtype(torch::kInt).device(model.device()));
  memPool_ = at::cuda::graph_pool_handle();  // shared by this decoder's buckets (replayed one at a time)
}

CudaGraphDecoder::~CudaGraphDecoder() = default;

CudaGraphDecoder::Bucket& CudaGraphDecoder::bucketFor(int64_t batch) {
  int64_t size = 1;
  while (size < batch) size *= 2;
  size = std::min(size, maxBatch_);
  auto it = buckets_.find(size);
  if (it != buckets_.end()) return it->second;

  // Capture on a side stream with every slot at -1: warm-up and capture touch no state.
  c10::cuda::CUDAGuard deviceGuard(model_.device());
  slots_.fill_(-1);
  at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
  side.synchronize();
  Bucket b;
  {
    at::cuda::CUDAStreamGuard streamGuard(side);
    torch::Tensor tok = tokens_.narrow(0, 0, size), sl = slots_.narrow(0, 0, size);
    for (int i = 0; i < 2; ++i) model_.decodeTensors(tok, sl, pool_);
    b.graph = std::make_unique<at::cuda::CUDAGraph>();
    b.graph->capture_begin(memPool_);
    b.logits = model_.decodeTensors(tok, sl, pool_);
    b.graph->capture_end();
  }
  side.synchronize();
  return buckets_.emplace(size, std::move(b)).first->second;
}

torch::Tensor CudaGraphDecoder::decode(std::span<const int32_t> tokens, std::span<const int32_t> slots) {
  const int64_t B = static_cast<int64_t>(tokens.size());
  if (B < 1 || B > maxBatch_ || slots.size() != tokens.size()) {
    throw StatusError(invalidArgument("decode batch must be in [1, " + std::to_string(maxBatch_) + "]"));
  }
  Bucket& bucket = bucketFor(B);
  const int64_t size = bucket.logits.size(0);
  // The staging buffers are reused: wait for the previous step's copies before overwriting.
  at::cuda::getCurrentCUDAStream().synchronize();
  int64_t* tok = tokensHost_.data_ptr<int64_t>();
  int32_t* sl = slotsHost_.data_ptr<int32_t>();
  for (int64_t i = 0; i < size; ++i) {
    tok[i] = i < B ? tokens[static_cast<size_t>(i)] : 0;
    sl[i] = i < B ? slots[static_cast<size_t>(i)] : -1;
  }
  tokens_.narrow(0, 0, size).copy_(tokensHost_.narrow(0, 0, size), /*non_blocking=*/true);
  slots_.narrow(0, 0, size).copy_(slotsHost_.narrow(0, 0, size), /*non_blocking=*/true);
  bucket.graph->replay();
  return bucket.logits.narrow(0, 0, B);
}

}  // namespace mamba
