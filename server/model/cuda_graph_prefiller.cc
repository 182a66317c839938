#include "server/model/cuda_graph_prefiller.h"

#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>

namespace mamba {

CudaGraphPrefiller::CudaGraphPrefiller(const Mamba2Model& model, StatePool& pool, int64_t maxBatch, int64_t maxLength)
    : model_(model), pool_(pool), maxBatch_(maxBatch), maxLength_(lengthBucket(maxLength)) {
  if (!model.device().is_cuda()) throw StatusError(invalidArgument("CudaGraphPrefiller needs a CUDA model"));
  if (maxBatch < 1 || maxLength < 1) throw StatusError(invalidArgument("CudaGraphPrefiller needs positive sizes"));
  staging_ = torch::zeros({maxBatch_ * maxLength_ + 3 * maxBatch_}, torch::TensorOptions().dtype(torch::kLong).pinned_memory(true));
  memPool_ = at::cuda::graph_pool_handle();
}

CudaGraphPrefiller::~CudaGraphPrefiller() = default;

int64_t CudaGraphPrefiller::lengthBucket(int64_t length) {
  int64_t b = 16;
  while (b < length) b *= 2;
  return b;
}

bool CudaGraphPrefiller::covers(const std::vector<PrefillSequence>& seqs, LogitsMode mode) const {
  if (mode == LogitsMode::kAll || seqs.empty() || static_cast<int64_t>(seqs.size()) > maxBatch_) return false;
  for (const auto& s : seqs) {
    if (static_cast<int64_t>(s.tokens.size()) > maxLength_ || s.tokens.empty()) return false;
  }
  return true;
}

CudaGraphPrefiller::Bucket& CudaGraphPrefiller::bucketFor(int64_t batch, int64_t length) {
  const auto key = std::make_pair(batch, lengthBucket(length));
  auto it = buckets_.find(key);
  if (it != buckets_.end()) return it->second;

  c10::cuda::CUDAGuard deviceGuard(model_.device());
  auto opt = torch::TensorOptions().dtype(torch::kLong).device(model_.device());
  Bucket b;
  b.ids = torch::zeros({batch, key.second}, opt);
  // Warm-up and capture prefill into slot 0 from a zero state; the real state is restored
  // afterwards, so capturing never disturbs a live sequence.
  b.meta = torch::zeros({3 * batch}, opt);
  b.meta.narrow(0, 0, batch).fill_(1);
  std::vector<torch::Tensor> saved;
  for (int64_t l = 0; l < pool_.numLayers(); ++l) {
    saved.push_back(pool_.conv(l)[0].clone());
    saved.push_back(pool_.ssm(l)[0].clone());
  }
  at::cuda::CUDAStream side = at::cuda::getStreamFromPool();
  at::cuda::getCurrentCUDAStream().synchronize();
  {
    at::cuda::CUDAStreamGuard streamGuard(side);
    for (int i = 0; i < 2; ++i) model_.prefillTensors(b.ids, b.meta, pool_, LogitsMode::kLast);
    b.graph = std::make_unique<at::cuda::CUDAGraph>();
    b.graph->capture_begin(memPool_, cudaStreamCaptureModeThreadLocal);  // as in cuda_graph_decoder.cc
    b.logits = model_.prefillTensors(b.ids, b.meta, pool_, LogitsMode::kLast);
    b.graph->capture_end();
  }
  side.synchronize();
  for (int64_t l = 0; l < pool_.numLayers(); ++l) {
    pool_.conv(l)[0].copy_(saved[static_cast<size_t>(2 * l)]);
    pool_.ssm(l)[0].copy_(saved[static_cast<size_t>(2 * l + 1)]);
  }
  return buckets_.emplace(key, std::move(b)).first->second;
}

void CudaGraphPrefiller::warm(int64_t batch) {
  for (int64_t len = 16; len <= maxLength_; len *= 2) bucketFor(batch, len);
}

torch::Tensor CudaGraphPrefiller::prefill(const std::vector<PrefillSequence>& seqs, LogitsMode mode) {
  if (!covers(seqs, mode)) throw StatusError(invalidArgument("prefill call not covered by the CUDA graphs"));
  const int64_t B = static_cast<int64_t>(seqs.size());
  int64_t Lmax = 0;
  for (const auto& s : seqs) Lmax = std::max<int64_t>(Lmax, static_cast<int64_t>(s.tokens.size()));
  Bucket& bucket = bucketFor(B, Lmax);
  const int64_t Lb = bucket.ids.size(1);
  // The staging buffer is reused: wait for the previous call's copies before overwriting.
  at::cuda::getCurrentCUDAStream().synchronize();
  packPrefillInputs(seqs, Lb, staging_.data_ptr<int64_t>(), staging_.data_ptr<int64_t>() + B * Lb);
  bucket.ids.view({-1}).copy_(staging_.narrow(0, 0, B * Lb), /*non_blocking=*/true);
  bucket.meta.copy_(staging_.narrow(0, B * Lb, 3 * B), /*non_blocking=*/true);
  bucket.graph->replay();
  if (mode == LogitsMode::kNone) return {};
  return bucket.logits.clone();
}

}  // namespace mamba
