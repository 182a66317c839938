// ModelBackend on LibTorch: wraps Mamba2Model and its StatePool.
#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <optional>

#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include "server/engine/greedy_reduce.h"
#include "server/engine/model_backend.h"
#include "server/model/checkpoint.h"
#include "server/model/guarded_call.h"
#include "server/model/mamba2_model.h"
#include "server/model/state_padding.h"
#include "server/model/state_pool.h"
#ifdef MAMBA_HAVE_CUDA_KERNELS
#include "server/engine/device_step_profile.h"
#include "server/model/cuda_graph_decoder.h"
#include "server/model/cuda_graph_prefiller.h"
#endif

namespace mamba {
namespace {

class TorchBackend final : public ModelBackend {
 public:
  TorchBackend(ModelInfo info, std::shared_ptr<const Mamba2Model> model, int64_t numSlots, int64_t maxChunk,
               torch::ScalarType stateDtype)
      : info_(std::move(info)), model_(std::move(model)),
        pool_(model_->config(), numSlots, model_->device(), stateDtype), maxChunk_(maxChunk) {
    info_.stateBytesPerSequence = pool_.bytesPerSequence();
#ifdef MAMBA_HAVE_CUDA_KERNELS
    // GPU decode replays CUDA graphs (one per batch bucket up to the slot count), and so do
    // short prefills (up to CudaGraphPrefiller::kMaxBatch x kMaxTokens; batch 1 captured now).
    if (model_->device().is_cuda()) {
      graphs_ = std::make_unique<CudaGraphDecoder>(*model_, pool_, numSlots);
      prefillGraphs_ = std::make_unique<CudaGraphPrefiller>(
          *model_, pool_, std::min(numSlots, CudaGraphPrefiller::kMaxBatch),
          std::min(maxChunk, CudaGraphPrefiller::kMaxTokens));
      prefillGraphs_->warm(1);
    }
#endif
  }

  const ModelInfo& info() const override { return info_; }
  std::optional<int32_t> acquireSlot() override { return pool_.acquire(); }
  void releaseSlot(int32_t slot) override { pool_.release(slot); }
  int64_t freeSlots() const override { return pool_.numSlots() - pool_.used(); }

  Status prefill(std::span<const PrefillItem> items, const RowRequest& request, StepOutputs* out) override {
    MAMBA_RETURN_IF_ERROR(checkItems(items));
    MAMBA_RETURN_IF_ERROR(checkRowRequest(request, items.size(), out));
    const bool needLogits = std::any_of(request.rows.begin(), request.rows.end(),
                                        [](RowOutput r) { return r != RowOutput::kNone; });
    return guardedModelCall([&]() -> Status {
      const auto hostStart = std::chrono::steady_clock::now();
      std::optional<c10::Stream> profiled;  // MAMBA_STEP_PROFILE on a device
      if (prefillProfile_ && !model_->device().is_cpu()) {
        const torch::Device dev = model_->device();
        profiled = c10::impl::VirtualGuardImpl(dev.type()).getStream(dev);
        prefillProfile_->markStart(prefillCalls_, *profiled);
      }
      // Chunk every item to at most maxChunk_ tokens per call; item i's chunk c continues from
      // chunk c-1. All items advance together so the batch stays full.
      std::vector<size_t> offset(items.size(), 0);
      std::vector<torch::Tensor> lastRows(items.size());  // (V) logits at each item's final position
      bool pending = true;
      while (pending) {
        std::vector<PrefillSequence> seqs;
        std::vector<size_t> which;
        pending = false;
        for (size_t i = 0; i < items.size(); ++i) {
          if (offset[i] >= items[i].tokens.size()) continue;
          size_t n = std::min<size_t>(static_cast<size_t>(maxChunk_), items[i].tokens.size() - offset[i]);
          seqs.push_back({items[i].tokens.subspan(offset[i], n), items[i].slot,
                          items[i].continueFromState || offset[i] > 0});
          which.push_back(i);
          offset[i] += n;
          if (offset[i] < items[i].tokens.size()) pending = true;
        }
        torch::Tensor logits = runPrefill(seqs, needLogits ? LogitsMode::kLast : LogitsMode::kNone);
        if (needLogits) {
          for (size_t k = 0; k < which.size(); ++k) {
            if (offset[which[k]] == items[which[k]].tokens.size()) lastRows[which[k]] = logits[static_cast<int64_t>(k)];
          }
        }
      }
      if (profiled) prefillProfile_->markGraph(prefillCalls_, *profiled);
      if (needLogits) emitRows(torch::stack(lastRows), request, out);
      if (profiled) {
        prefillProfile_->markEnd(prefillCalls_, *profiled);
        profiled->synchronize();
        const std::chrono::duration<double, std::milli> host = std::chrono::steady_clock::now() - hostStart;
        prefillProfile_->finished(prefillCalls_++, host.count());
      }
      return Status::ok();
    });
  }

  StatusOr<std::vector<ScoredToken>> prefillScore(const PrefillItem& item, std::span<const int32_t> targets) override {
    MAMBA_RETURN_IF_ERROR(checkItems(std::span<const PrefillItem>(&item, 1)));
    if (targets.size() != item.tokens.size()) return invalidArgument("targets must have one entry per token");
    for (int32_t t : targets) {
      if (t < 0 || t >= info_.vocabSize) return invalidArgument("target id " + std::to_string(t) + " out of range");
    }
    std::vector<ScoredToken> out;
    Status st = guardedModelCall([&]() -> Status {
      for (size_t off = 0; off < item.tokens.size(); off += static_cast<size_t>(maxChunk_)) {
        size_t n = std::min<size_t>(static_cast<size_t>(maxChunk_), item.tokens.size() - off);
        PrefillSequence seq{item.tokens.subspan(off, n), item.slot, item.continueFromState || off > 0};
        torch::Tensor logits = model_->prefill({seq}, pool_, LogitsMode::kAll)[0]
                                   .narrow(1, 0, info_.vocabSize);          // (n, V)
        // Normalized over all info_.vocabSize logits (padding excluded), not over the
        // tokenizer-limited vocabulary that generation samples and normalizes over
        // (GenerationSequence / Scheduler::sampleVocab()); see ScoredToken.
        torch::Tensor logp = torch::log_softmax(logits, -1);
        std::vector<int64_t> tv(targets.begin() + static_cast<long>(off), targets.begin() + static_cast<long>(off + n));
        torch::Tensor tgt = torch::tensor(tv, torch::kLong).to(logits.device()).view({-1, 1});
        torch::Tensor lp = logp.gather(1, tgt).squeeze(1).cpu();
        torch::Tensor greedy = logits.argmax(1).cpu();
        auto lpA = lp.accessor<float, 1>();
        auto gA = greedy.accessor<int64_t, 1>();
        for (size_t i = 0; i < n; ++i) out.push_back({lpA[static_cast<int64_t>(i)], gA[static_cast<int64_t>(i)] == tv[i]});
      }
      return Status::ok();
    });
    if (!st.isOk()) return st;
    return out;
  }

  Status decode(std::span<const int32_t> tokens, std::span<const int32_t> slots, const RowRequest& request,
                StepOutputs* out) override {
    if (tokens.size() != slots.size() || tokens.empty()) return invalidArgument("decode needs one slot per token");
    for (size_t i = 0; i < tokens.size(); ++i) {
      MAMBA_RETURN_IF_ERROR(checkToken(tokens[i]));
      MAMBA_RETURN_IF_ERROR(checkSlot(slots[i]));
    }
    MAMBA_RETURN_IF_ERROR(checkRowRequest(request, tokens.size(), out));
    return guardedModelCall([&]() -> Status {
#ifdef MAMBA_HAVE_CUDA_KERNELS
      if (graphs_) {
        emitRows(graphs_->decode(tokens, slots), request, out);
        return Status::ok();
      }
#endif
      emitRows(model_->decode(tokens, slots, pool_), request, out);
      return Status::ok();
    });
  }

  // On CUDA the two phases overlap with the host (see AsyncStep); elsewhere the base class's
  // synchronous implementation.
  Status decodeStart(std::span<const DecodeInput> inputs, std::span<const int32_t> slots,
                     const RowRequest& request) override {
#ifdef MAMBA_HAVE_CUDA_KERNELS
    if (graphs_) return startAsync(inputs, slots, request);
#endif
    return ModelBackend::decodeStart(inputs, slots, request);
  }

  Status decodeFinish(StepOutputs* out) override {
#ifdef MAMBA_HAVE_CUDA_KERNELS
    if (graphs_) return finishAsync(out);
#endif
    return ModelBackend::decodeFinish(out);
  }

 private:
#ifdef MAMBA_HAVE_CUDA_KERNELS
  // A decode step started on the device and not finished: its outputs land in pinned host
  // memory (buffer set `buffers`), whose event completes once they are there. `greedy` stays
  // on the device for the next step's rows that take their token from this one.
  struct AsyncStep {
    std::vector<RowOutput> rows;
    std::vector<int32_t> greedyIndex;    // per row: its row of `greedy` (kGreedy rows), else -1
    torch::Tensor greedy;                // (G, 2) float64 on the device: token, logprob
    torch::Tensor greedyHost, fullHost;  // views of the step's pinned buffers (undefined: none)
    size_t buffers = 0;                  // its StepBuffers
    uint64_t number = 0;                 // stepsStarted_ when it started
  };
  // Pinned host memory and the completion event of one step in flight; two sets, used by
  // alternate steps, so that a set is reused only by the step after next, which starts after
  // this one finished (at most two in flight). Grown, never shrunk; a step's views keep a
  // replaced buffer alive.
  struct StepBuffers {
    torch::Tensor greedy, logits, index;
    std::optional<c10::Event> done;  // recorded after the step's copies to the host
  };

  Status startAsync(std::span<const DecodeInput> inputs, std::span<const int32_t> slots, const RowRequest& request) {
    MAMBA_RETURN_IF_ERROR(checkDecodeStart(inputs, slots, request, async_.size(),
                                           async_.empty() ? std::span<const RowOutput>() : async_.back().rows));
    std::vector<int32_t> tokens(inputs.size(), 0), src, dst;
    for (size_t b = 0; b < inputs.size(); ++b) {
      MAMBA_RETURN_IF_ERROR(checkSlot(slots[b]));
      if (inputs[b].previousRow < 0) {
        MAMBA_RETURN_IF_ERROR(checkToken(inputs[b].token));
        tokens[b] = inputs[b].token;
      } else {
        src.push_back(async_.back().greedyIndex[static_cast<size_t>(inputs[b].previousRow)]);
        dst.push_back(static_cast<int32_t>(b));
      }
    }
    return guardedModelCall([&]() -> Status {
      const torch::Device dev = model_->device();
      const c10::Stream stream = c10::impl::VirtualGuardImpl(dev.type()).getStream(dev);
      if (profile_) profile_->markStart(stepsStarted_, stream);
      torch::Tensor logits;
      if (src.empty()) {
        logits = graphs_->decode(tokens, slots);
      } else {
        const CudaGraphDecoder::DeviceTokens fromDevice{async_.back().greedy.select(1, 0), src, dst};
        logits = graphs_->decode(tokens, slots, &fromDevice);
      }
      if (profile_) profile_->markGraph(stepsStarted_, stream);
      AsyncStep step;
      step.number = stepsStarted_;
      step.buffers = static_cast<size_t>(stepsStarted_ % 2);
      StepBuffers& buf = stepBuffers_[step.buffers];
      step.rows.assign(request.rows.begin(), request.rows.end());
      step.greedyIndex.assign(step.rows.size(), -1);
      std::vector<int64_t> greedyRows, fullRows;
      for (size_t k = 0; k < step.rows.size(); ++k) {
        if (step.rows[k] == RowOutput::kGreedy) {
          step.greedyIndex[k] = static_cast<int32_t>(greedyRows.size());
          greedyRows.push_back(static_cast<int64_t>(k));
        }
        if (step.rows[k] == RowOutput::kLogits) fullRows.push_back(static_cast<int64_t>(k));
      }
      // Row ids for index_select go through the step's own pinned buffer (never the ones the
      // synchronous calls reuse): [greedy rows | full rows].
      const torch::Device device = logits.device();
      torch::Tensor index;
      if ((!greedyRows.empty() && greedyRows.size() < tokens.size()) ||
          (!fullRows.empty() && fullRows.size() < tokens.size())) {
        index = pinned(buf.index, static_cast<int64_t>(greedyRows.size() + fullRows.size()), torch::kLong);
        int64_t* p = index.data_ptr<int64_t>();
        std::copy(greedyRows.begin(), greedyRows.end(), p);
        std::copy(fullRows.begin(), fullRows.end(), p + greedyRows.size());
        index = index.to(device, /*non_blocking=*/true);
      }
      const int64_t vocab = info_.vocabSize;
      if (!greedyRows.empty()) {
        const int64_t greedyVocab = request.greedyVocab > 0 ? request.greedyVocab : vocab;
        torch::Tensor g = greedyRows.size() == tokens.size()
                              ? logits
                              : logits.index_select(0, index.narrow(0, 0, static_cast<int64_t>(greedyRows.size())));
        step.greedy = greedyReduce(g, greedyVocab);
        step.greedyHost = pinned(buf.greedy, step.greedy.numel(), torch::kFloat64).view(step.greedy.sizes());
        step.greedyHost.copy_(step.greedy, /*non_blocking=*/true);
      }
      if (!fullRows.empty()) {
        torch::Tensor f = fullRows.size() == tokens.size()
                              ? logits
                              : logits.index_select(0, index.narrow(0, static_cast<int64_t>(greedyRows.size()),
                                                                    static_cast<int64_t>(fullRows.size())));
        f = f.narrow(1, 0, vocab).to(torch::kFloat32).contiguous();
        step.fullHost = pinned(buf.logits, f.numel(), torch::kFloat32).view(f.sizes());
        step.fullHost.copy_(f, /*non_blocking=*/true);
      }
      if (!buf.done) buf.done.emplace(device.type());
      buf.done->record(stream);
      if (profile_) profile_->markEnd(stepsStarted_, stream);
      async_.push_back(std::move(step));
      ++stepsStarted_;
      return Status::ok();
    });
  }

  Status finishAsync(StepOutputs* out) {
    if (async_.empty()) return failedPrecondition("no decode step is in flight");
    AsyncStep step = std::move(async_.front());
    async_.pop_front();
    return guardedModelCall([&]() -> Status {
      stepBuffers_[step.buffers].done->synchronize();
      if (profile_) profile_->finished(step.number);
      if (!out) return Status::ok();
      out->greedy.assign(step.rows.size(), GreedyPick{});
      out->logits = {};
      if (step.greedyHost.defined()) {
        const double* g = step.greedyHost.data_ptr<double>();
        for (size_t k = 0; k < step.rows.size(); ++k) {
          const int32_t i = step.greedyIndex[k];
          if (i < 0) continue;
          out->greedy[k].token = static_cast<int32_t>(g[2 * i]);
          out->greedy[k].logprob = static_cast<float>(g[2 * i + 1]);
        }
      }
      if (step.fullHost.defined()) {
        finishedLogits_ = step.fullHost;  // keeps the rows alive until the next call at least
        out->logits = std::span<const float>(finishedLogits_.data_ptr<float>(), static_cast<size_t>(finishedLogits_.numel()));
      }
      return Status::ok();
    });
  }
#endif

  torch::Tensor runPrefill(const std::vector<PrefillSequence>& seqs, LogitsMode mode) {
#ifdef MAMBA_HAVE_CUDA_KERNELS
    if (prefillGraphs_ && prefillGraphs_->covers(seqs, mode)) return prefillGraphs_->prefill(seqs, mode);
#endif
    return model_->prefill(seqs, pool_, mode);
  }
  Status checkToken(int32_t t) const {
    if (t < 0 || t >= model_->config().vocabSize) {
      return invalidArgument("token id " + std::to_string(t) + " out of range [0, " + std::to_string(model_->config().vocabSize) + ")");
    }
    return Status::ok();
  }
  Status checkSlot(int32_t s) const {
    if (s < 0 || s >= pool_.numSlots()) return invalidArgument("slot " + std::to_string(s) + " out of range");
    return Status::ok();
  }
  Status checkItems(std::span<const PrefillItem> items) const {
    if (items.empty()) return invalidArgument("prefill needs at least one item");
    for (const auto& it : items) {
      if (it.tokens.empty()) return invalidArgument("prefill item has no tokens");
      MAMBA_RETURN_IF_ERROR(checkSlot(it.slot));
      for (int32_t t : it.tokens) MAMBA_RETURN_IF_ERROR(checkToken(t));
    }
    return Status::ok();
  }
  // Produces what `request` asks of `logits` ((rows, padded vocab), on the model's device):
  // kGreedy rows reduce where the logits are, kLogits rows reach the host, kNone rows nothing.
  void emitRows(const torch::Tensor& logits, const RowRequest& request, StepOutputs* out) {
    if (request.rows.empty()) return;
    const int64_t vocab = info_.vocabSize;
    const int64_t greedyVocab = request.greedyVocab > 0 ? request.greedyVocab : vocab;
    const size_t rows = request.rows.size();
    std::vector<int64_t> greedyRows, fullRows;
    for (size_t k = 0; k < rows; ++k) {
      if (request.rows[k] == RowOutput::kGreedy) greedyRows.push_back(static_cast<int64_t>(k));
      if (request.rows[k] == RowOutput::kLogits) fullRows.push_back(static_cast<int64_t>(k));
    }
    out->greedy.assign(rows, GreedyPick{});
    out->logits = {};
    if (greedyRows.empty() && fullRows.empty()) return;

    if (logits.device().is_cpu()) {
      // The logits are on the host already: greedyPick() itself (bit-identical to the host
      // sampler), rows in parallel on LibTorch's intra-op threads; full rows are a view or
      // one gather, no copy through another buffer.
      torch::Tensor t = logits.to(torch::kFloat32).contiguous();
      const float* base = t.data_ptr<float>();
      const int64_t stride = t.size(1);
      at::parallel_for(0, static_cast<int64_t>(greedyRows.size()), 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const int64_t k = greedyRows[static_cast<size_t>(i)];
          out->greedy[static_cast<size_t>(k)] =
              greedyPick(std::span<const float>(base + k * stride, static_cast<size_t>(greedyVocab)));
        }
      });
      if (!fullRows.empty()) {
        torch::Tensor f = fullRows.size() == rows ? t : t.index_select(0, torch::tensor(fullRows, torch::kLong));
        hostLogits_ = f.narrow(1, 0, vocab).contiguous();
        out->logits = std::span<const float>(hostLogits_.data_ptr<float>(), static_cast<size_t>(hostLogits_.numel()));
      }
      return;
    }

    // An accelerator: greedy rows reduce there and only (token, logprob) pairs come back;
    // full rows come back through pinned host memory; one stream synchronization for both.
    const torch::Device device = logits.device();
    torch::Tensor greedy, full;
    if (!greedyRows.empty()) {
      torch::Tensor g = greedyRows.size() == rows ? logits : logits.index_select(0, rowIndex(greedyRows, 0, device));
      greedy = greedyReduce(g, greedyVocab);  // (G, 2) float64
    }
    if (!fullRows.empty()) {
      torch::Tensor f = fullRows.size() == rows ? logits : logits.index_select(0, rowIndex(fullRows, 1, device));
      full = f.narrow(1, 0, vocab).to(torch::kFloat32).contiguous();
    }
    torch::Tensor greedyHost, fullHost;
    if (greedy.defined()) {
      greedyHost = pinned(pinnedGreedy_, greedy.numel(), torch::kFloat64).view(greedy.sizes());
      greedyHost.copy_(greedy, /*non_blocking=*/true);
    }
    if (full.defined()) {
      fullHost = pinned(pinnedLogits_, full.numel(), torch::kFloat32).view(full.sizes());
      fullHost.copy_(full, /*non_blocking=*/true);
    }
    c10::impl::VirtualGuardImpl(device.type()).getStream(device).synchronize();
    if (greedyHost.defined()) {
      const double* g = greedyHost.data_ptr<double>();
      for (size_t i = 0; i < greedyRows.size(); ++i) {
        GreedyPick& p = out->greedy[static_cast<size_t>(greedyRows[i])];
        p.token = static_cast<int32_t>(g[2 * i]);
        p.logprob = static_cast<float>(g[2 * i + 1]);
      }
    }
    if (fullHost.defined()) {
      out->logits = std::span<const float>(fullHost.data_ptr<float>(), static_cast<size_t>(fullHost.numel()));
    }
  }
  // The first n elements of a pinned host buffer (grown, never shrunk). Safe to reuse: every
  // copy into it is waited for before emitRows() returns.
  static torch::Tensor pinned(torch::Tensor& buffer, int64_t n, torch::ScalarType dtype) {
    if (!buffer.defined() || buffer.numel() < n) {
      const int64_t size = std::max<int64_t>(n, buffer.defined() ? 2 * buffer.numel() : 0);
      buffer = torch::empty({size}, torch::TensorOptions().dtype(dtype).pinned_memory(true));
    }
    return buffer.narrow(0, 0, n);
  }
  // Row ids on `device`, staged through pinned memory (buffer `which` of two; the copy is
  // asynchronous and waited for with the outputs).
  torch::Tensor rowIndex(const std::vector<int64_t>& ids, int which, const torch::Device& device) {
    torch::Tensor host = pinned(pinnedIndex_[which], static_cast<int64_t>(ids.size()), torch::kLong);
    std::copy(ids.begin(), ids.end(), host.data_ptr<int64_t>());
    return host.to(device, /*non_blocking=*/true);
  }

  ModelInfo info_;
  std::shared_ptr<const Mamba2Model> model_;
  StatePool pool_;
  int64_t maxChunk_;
  torch::Tensor hostLogits_;                            // CPU device: the last kLogits rows
  torch::Tensor pinnedGreedy_, pinnedLogits_;           // accelerators: pinned staging
  torch::Tensor pinnedIndex_[2];
#ifdef MAMBA_HAVE_CUDA_KERNELS
  std::unique_ptr<CudaGraphDecoder> graphs_;  // set on CUDA devices
  std::unique_ptr<CudaGraphPrefiller> prefillGraphs_;
  std::deque<AsyncStep> async_;               // decode steps in flight, oldest first (<= 2)
  StepBuffers stepBuffers_[2];                // by stepsStarted_ % 2
  uint64_t stepsStarted_ = 0;
  // MAMBA_STEP_PROFILE=1: device timing of the asynchronous steps (device_step_profile.h).
  std::unique_ptr<DeviceStepProfile> profile_ =
      DeviceStepProfile::enabledByEnv() ? std::make_unique<DeviceStepProfile>("decode step", 2048) : nullptr;
  std::unique_ptr<DeviceStepProfile> prefillProfile_ =
      DeviceStepProfile::enabledByEnv() ? std::make_unique<DeviceStepProfile>("prefill call", 64) : nullptr;
  uint64_t prefillCalls_ = 0;
  torch::Tensor finishedLogits_;              // the kLogits rows the last finishAsync() returned
#endif
};

}  // namespace

void setCpuThreads(int threads) { at::set_num_threads(threads); }
int cpuThreads() { return at::get_num_threads(); }

StatusOr<std::unique_ptr<ModelBackend>> loadTorchBackend(const BackendOptions& o) {
  MAMBA_ASSIGN_OR_RETURN(torch::ScalarType dtype, parseDTypeName(o.dtype));
  MAMBA_ASSIGN_OR_RETURN(torch::ScalarType stateDtype, parseDTypeName(o.stateDtype));
  if (stateDtype != torch::kFloat32 && stateDtype != torch::kBFloat16) {
    return invalidArgument("state_dtype must be fp32 or bf16, got '" + o.stateDtype + "'");
  }
  if (o.numSlots < 1) return invalidArgument("num_slots must be >= 1");
  if (o.maxPrefillChunk < 1) return invalidArgument("max_prefill_chunk must be >= 1");
  torch::Device device = torch::kCPU;
  try {
    device = torch::Device(o.device);
  } catch (const c10::Error&) {
    return invalidArgument("device must be 'cpu' or 'cuda[:N]', got '" + o.device + "'");
  }
  if (device.is_cuda() && !torch::cuda::is_available()) return failedPrecondition("device " + o.device + " requested but CUDA is not available");
  MAMBA_ASSIGN_OR_RETURN(LoadedCheckpoint ckpt, loadCheckpoint(o.modelDir, LoadOptions{dtype, device}));
  ModelInfo info;
  info.name = o.name.empty() ? std::filesystem::path(o.modelDir).filename().string() : o.name;
  info.variant = o.variant;
  info.path = o.modelDir;
  info.dtype = dtypeShortName(dtype);
  info.stateDtype = dtypeShortName(stateDtype);
  info.device = device.str();
  info.nLayer = ckpt.config.nLayer;
  info.dModel = ckpt.config.dModel;
  info.stateSizes = ckpt.config.stateSizes;
  info.vocabSize = ckpt.config.rawVocabSize;
  info.parameterCount = ckpt.config.parameterCount();
  info.numSlots = o.numSlots;
  if (ckpt.config.eosTokenId) info.eosTokenIds.push_back(static_cast<int32_t>(*ckpt.config.eosTokenId));
  // A compacted checkpoint's unaligned N_i is served padded with exact zero channels on CUDA,
  // where the kernels need aligned rows (state_padding.h); `info` keeps the checkpoint's N_i.
  MAMBA_RETURN_IF_ERROR(padStatesForServing(ckpt.config, ckpt.weights, device, dtype).status());
  auto model = std::make_shared<const Mamba2Model>(std::move(ckpt.config), std::move(ckpt.weights));
  try {
    return std::unique_ptr<ModelBackend>(new TorchBackend(std::move(info), std::move(model), o.numSlots, o.maxPrefillChunk, stateDtype));
  } catch (const c10::Error& e) {
    return resourceExhausted(std::string("cannot allocate the state pool: ") + e.what_without_backtrace());
  }
}

}  // namespace mamba
