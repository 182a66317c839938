// Whole-model decode captured as CUDA graphs, one per batch-size bucket (spec §6).
//
// Buckets are powers of two up to maxBatch; a step of B sequences replays the smallest bucket
// >= B with padding rows (slot -1) that touch no state. Token ids and slots are copied into
// static device buffers, so every replay sees the same addresses; the state pool is updated in
// place by the kernels. Graphs are captured lazily on first use of a bucket.
//
// decode() never waits for the device once a bucket is captured: it stages the step's inputs
// in one of two pinned host buffers, used alternately, and reuses a buffer only after the
// copies out of it (issued two calls earlier) have run, which an event recorded after them
// tells. So the host may enqueue step t+1 while the device still runs step t (pipelined
// decode); everything runs on the current stream, in call order.
//
// Threading: one thread drives a decoder (the scheduler that owns the pool). The returned
// logits are a view of a static buffer of the bucket, which the next replay of that bucket
// overwrites (in stream order: work enqueued before the next decode() call reads this step's
// values).
#pragma once

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <span>

#include <c10/core/Event.h>
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

  // Token inputs that are already on the device: row dst[k] of the step takes its token from
  // values[src[k]] instead of from `tokens`. `values` is 1-D on the decoder's device, of any
  // dtype that holds token ids exactly (e.g. the float64 column of a greedy pick), and written
  // by work already enqueued on the current stream; the ids must be in the model's vocabulary.
  struct DeviceTokens {
    torch::Tensor values;
    std::span<const int32_t> src, dst;  // equal sizes; dst rows distinct and < B
  };

  // Same contract as Mamba2Model::decode; tokens.size() <= maxBatch. Returns (B, Vp) fp32.
  // With `fromDevice`, the rows it names take their tokens from the device (their entries of
  // `tokens` are ignored).
  torch::Tensor decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                       const DeviceTokens* fromDevice = nullptr);
  int64_t maxBatch() const { return maxBatch_; }

 private:
  struct Bucket {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor logits;
  };
  // Pinned host inputs of one call: `io` holds tokens (maxBatch int64) then slots (maxBatch
  // int32), the layout of io_, so that one copy moves both; tokens and slots are views of it.
  // index: the src | dst row ids of DeviceTokens (2 x maxBatch int64).
  struct Staging {
    torch::Tensor io, tokens, slots, index;
    std::optional<c10::Event> copied;  // recorded after the copies out of this buffer
  };
  Bucket& bucketFor(int64_t batch);
  // Throws INVALID_ARGUMENT unless `d` fits a step of `batch` rows; returns whether it maps
  // rows 0..n-1 to values 0..n-1 (the steady state of a pipelined decode: one copy kernel).
  bool checkDeviceTokens(const DeviceTokens& d, int64_t batch) const;
  // Overwrites the rows of tokens_ that `d` names (enqueued on the current stream).
  void applyDeviceTokens(const DeviceTokens& d, bool prefix, Staging& staging);

  const Mamba2Model& model_;
  StatePool& pool_;
  int64_t maxBatch_;
  std::array<Staging, 2> staging_;
  int next_ = 0;                          // the staging buffer of the next call
  // Static device inputs: io_ (bytes) = tokens_ (maxBatch int64) | slots_ (maxBatch int32);
  // index_ 2 x maxBatch int64.
  torch::Tensor io_, tokens_, slots_, index_;
  // What the last input copy left in slots_ (rows of the bucket, padding -1 included), so that
  // a step whose tokens all come from the device and whose slots are unchanged (the steady
  // state of a pipelined decode) copies nothing from the host. Empty: unknown.
  std::vector<int32_t> deviceSlots_;
  std::map<int64_t, Bucket> buckets_;
  std::pair<unsigned long long, unsigned long long> memPool_;  // at::cuda::MempoolId_t
};

}  // namespace mamba
