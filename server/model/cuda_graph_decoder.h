// Whole-model decode captured as CUDA graphs, one per batch-size bucket (spec §6).
//
// Buckets are powers of two up to maxBatch; a step of B sequences replays the smallest bucket
// >= B with padding rows (slot -1) that touch no state. Token ids and slots are copied into
// static device buffers, so every replay sees the same addresses; the state pool is updated in
// place by the kernels. Graphs are captured lazily on first use of a bucket.
//
// Threading: one thread drives a decoder (the scheduler that owns the pool). The returned
// logits are a view of a static buffer, valid until the next decode() call.
#pragma once

#include <map>
#include <memory>
#include <span>

#include <torch/torch.h>

#include "server/model/mamba2_model.h"
#include "server/model/state_pool.h"

namespace at::cuda {
struct CUDAGraph;
}

namespace mamba {

class CudaGraphDecoder {
 public:
  CudaGraphDecoder(const Mamba2Model& model, StatePool& pool, int64_t maxBatch);
  ~CudaGraphDecoder();

  // Same contract as Mamba2Model::decode; tokens.size() <= maxBatch. Returns (B, Vp) fp32.
  torch::Tensor decode(std::span<const int32_t> tokens, std::span<const int32_t> slots);
  int64_t maxBatch() const { return maxBatch_; }

 private:
  struct Bucket {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor logits;
  };
  Bucket& bucketFor(int64_t batch);

  const Mamba2Model& model_;
  StatePool& pool_;
  int64_t maxBatch_;
  torch::Tensor tokensHost_, slotsHost_;  // pinned staging
  torch::Tensor tokens_, slots_;          // static device inputs (maxBatch)
  std::map<int64_t, Bucket> buckets_;
  std::pair<unsigned long long, unsigned long long> memPool_;  // at::cuda::MempoolId_t
};

}  // namespace mamba
