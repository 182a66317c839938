// Short prefills captured as CUDA graphs, one per (batch, length bucket) (issue: 1 x 64 tokens
// is launch-bound: ~24 layers x dozens of kernels, each a few microseconds of host work).
//
// A call of B <= maxBatch sequences of at most maxLength tokens replays the graph of exactly B
// rows and the smallest power-of-two length bucket (>= 16) holding the longest sequence;
// shorter sequences are right-padded, which the prefill already handles (padded steps have
// dt = 0: no decay, no input, and the conv window and the last-position logits follow each
// sequence's own length). Ids and metadata are copied into static device buffers, so every
// replay sees the same addresses; the state pool is read and written in place by slot.
// Graphs are captured lazily on first use of a bucket (warm() captures ahead of traffic).
//
// Threading: one thread drives a prefiller (the scheduler that owns the pool).
#pragma once

#include <map>
#include <memory>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "server/model/mamba2_model.h"
#include "server/model/state_pool.h"

namespace at::cuda {
struct CUDAGraph;
}

namespace mamba {

class CudaGraphPrefiller {
 public:
  // The serving engine's limits: calls up to kMaxBatch x kMaxTokens replay graphs. Past 256
  // tokens a prefill is still launch-bound (H200, 130m: 1 x 512 took 1.72 ms eagerly).
  static constexpr int64_t kMaxBatch = 8, kMaxTokens = 512;

  CudaGraphPrefiller(const Mamba2Model& model, StatePool& pool, int64_t maxBatch, int64_t maxLength);
  ~CudaGraphPrefiller();

  // Whether a call with these sequences and mode replays a graph (else use Mamba2Model).
  bool covers(const std::vector<PrefillSequence>& seqs, LogitsMode mode) const;
  // Same contract as Mamba2Model::prefill for covered calls (kLast or kNone); the logits are
  // a fresh tensor (B, Vp) fp32, or undefined for kNone.
  torch::Tensor prefill(const std::vector<PrefillSequence>& seqs, LogitsMode mode);
  // Captures the graphs of `batch` rows for every length bucket.
  void warm(int64_t batch);

 private:
  struct Bucket {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor ids, meta;  // static inputs: (B, Lb) int64, (3B) int64
    torch::Tensor logits;     // static output (B, Vp) fp32
  };
  Bucket& bucketFor(int64_t batch, int64_t length);
  static int64_t lengthBucket(int64_t length);

  const Mamba2Model& model_;
  StatePool& pool_;
  int64_t maxBatch_, maxLength_;
  torch::Tensor staging_;  // pinned host buffer: ids then meta of one call
  std::map<std::pair<int64_t, int64_t>, Bucket> buckets_;
  std::pair<unsigned long long, unsigned long long> memPool_;  // at::cuda::MempoolId_t
};

}  // namespace mamba
