#include "pruning/evaluation.h"

#include <cmath>

#include "server/model/guarded_call.h"

namespace mamba::pruning {
namespace {

constexpr int64_t kLogitBudgetBytes = int64_t{1} << 30;

int64_t cappedBatch(const Mamba2Model& model, int64_t batch, int64_t length) {
  const int64_t perSeq = std::max<int64_t>(1, length) * model.config().vocabSize * 4;
  return std::clamp<int64_t>(kLogitBudgetBytes / perSeq, 1, std::max<int64_t>(1, batch));
}

// One ragged prefill: inputs[i] (>= 1 token) scored against targets[i] (same length) at the
// positions from skip[i] on. Returns the summed log-probabilities and the per-position ones.
std::vector<std::vector<float>> scoreBatch(const Mamba2Model& model, StatePool& pool,
                                           const std::vector<std::span<const int32_t>>& inputs,
                                           const std::vector<std::span<const int32_t>>& targets) {
  std::vector<PrefillSequence> seqs;
  for (size_t i = 0; i < inputs.size(); ++i) seqs.push_back({inputs[i], static_cast<int32_t>(i), false});
  torch::Tensor logits = model.prefill(seqs, pool, LogitsMode::kAll).narrow(2, 0, model.config().rawVocabSize);
  torch::Tensor logp = torch::log_softmax(logits, -1);  // (B, L, V)
  const int64_t B = logp.size(0), L = logp.size(1);
  std::vector<int64_t> tgt(static_cast<size_t>(B * L), 0);
  for (size_t i = 0; i < targets.size(); ++i) {
    for (size_t t = 0; t < targets[i].size(); ++t) tgt[i * static_cast<size_t>(L) + t] = targets[i][t];
  }
  torch::Tensor idx = torch::tensor(tgt, torch::kLong).view({B, L, 1}).to(logp.device());
  torch::Tensor picked = logp.gather(2, idx).squeeze(2).to(torch::kCPU).contiguous();  // (B, L)
  std::vector<std::vector<float>> out(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const float* row = picked.data_ptr<float>() + i * static_cast<size_t>(L);
    out[i].assign(row, row + targets[i].size());
  }
  return out;
}

Status checkIds(const Mamba2Model& model, std::span<const int32_t> ids) {
  for (int32_t t : ids) {
    if (t < 0 || t >= model.config().rawVocabSize) return invalidArgument("token id " + std::to_string(t) + " out of range");
  }
  return Status::ok();
}

}  // namespace

StatusOr<PerplexityStats> windowPerplexity(const Mamba2Model& model, std::span<const int32_t> tokens, int64_t context,
                                           int64_t batch, const TokenBytesFn& tokenBytes) {
  if (context < 2) return invalidArgument("context must be at least 2 tokens");
  if (batch < 1) return invalidArgument("batch must be >= 1");
  MAMBA_RETURN_IF_ERROR(checkIds(model, tokens));
  batch = cappedBatch(model, batch, context);
  StatePool pool(model.config(), batch, model.device());
  PerplexityStats r;
  std::vector<std::span<const int32_t>> windows;
  for (size_t start = 0; start < tokens.size(); start += static_cast<size_t>(context)) {
    const size_t n = std::min<size_t>(static_cast<size_t>(context), tokens.size() - start);
    if (n >= 2) windows.push_back(tokens.subspan(start, n));
  }
  Status st = guardedModelCall([&]() -> Status {
    for (size_t w = 0; w < windows.size(); w += static_cast<size_t>(batch)) {
      std::vector<std::span<const int32_t>> in, tgt;
      for (size_t k = w; k < std::min(windows.size(), w + static_cast<size_t>(batch)); ++k) {
        in.push_back(windows[k].first(windows[k].size() - 1));
        tgt.push_back(windows[k].subspan(1));
      }
      std::vector<std::vector<float>> lp = scoreBatch(model, pool, in, tgt);
      for (size_t i = 0; i < lp.size(); ++i) {
        for (size_t t = 0; t < lp[i].size(); ++t) {
          r.nllSum -= static_cast<double>(lp[i][t]);
          r.bytesScored += tokenBytes(tgt[i][t]);
        }
        r.tokensScored += static_cast<int64_t>(lp[i].size());
      }
    }
    return Status::ok();
  });
  if (!st.isOk()) return st;
  return r;
}

StatusOr<std::vector<double>> continuationLogLikelihoods(const Mamba2Model& model,
                                                         const std::vector<EncodedRequest>& requests, int64_t batch) {
  if (batch < 1) return invalidArgument("batch must be >= 1");
  std::vector<std::vector<int32_t>> inputs, targets;
  size_t longest = 1;
  for (const EncodedRequest& r : requests) {
    if (r.context.empty() || r.continuation.empty()) return invalidArgument("requests need a context and a continuation");
    MAMBA_RETURN_IF_ERROR(checkIds(model, r.context));
    MAMBA_RETURN_IF_ERROR(checkIds(model, r.continuation));
    // Input: context + continuation[:-1]; position |ctx|-1+j predicts continuation[j].
    std::vector<int32_t> in = r.context;
    in.insert(in.end(), r.continuation.begin(), r.continuation.end() - 1);
    std::vector<int32_t> tgt(in.size(), 0);
    std::copy(r.continuation.begin(), r.continuation.end(), tgt.begin() + static_cast<long>(r.context.size() - 1));
    longest = std::max(longest, in.size());
    inputs.push_back(std::move(in));
    targets.push_back(std::move(tgt));
  }
  batch = cappedBatch(model, batch, static_cast<int64_t>(longest));
  std::vector<double> out(requests.size(), 0.0);
  StatePool pool(model.config(), batch, model.device());
  Status st = guardedModelCall([&]() -> Status {
    for (size_t b = 0; b < requests.size(); b += static_cast<size_t>(batch)) {
      const size_t e = std::min(requests.size(), b + static_cast<size_t>(batch));
      std::vector<std::span<const int32_t>> in, tgt;
      for (size_t i = b; i < e; ++i) {
        in.emplace_back(inputs[i]);
        tgt.emplace_back(targets[i]);
      }
      std::vector<std::vector<float>> lp = scoreBatch(model, pool, in, tgt);
      for (size_t i = b; i < e; ++i) {
        for (size_t t = requests[i].context.size() - 1; t < lp[i - b].size(); ++t) out[i] += static_cast<double>(lp[i - b][t]);
      }
    }
    return Status::ok();
  });
  if (!st.isOk()) return st;
  return out;
}

StatusOr<McResult> evaluateMultipleChoice(const Mamba2Model& model, const Tokenizer& tokenizer,
                                          const std::vector<McDoc>& docs, int64_t batch) {
  const int32_t prefix = static_cast<int32_t>(model.config().eosTokenId.value_or(0));
  EncodeFn encode = [&](std::string_view s) { return tokenizer.encode(s); };
  std::vector<EncodedRequest> requests;
  for (const McDoc& d : docs) {
    for (const std::string& c : d.choices) requests.push_back(encodeRequest(d.context, " " + c, encode, prefix));
  }
  MAMBA_ASSIGN_OR_RETURN(std::vector<double> ll, continuationLogLikelihoods(model, requests, batch));
  McResult r;
  size_t k = 0;
  for (const McDoc& d : docs) {
    std::vector<double> docLl(ll.begin() + static_cast<long>(k), ll.begin() + static_cast<long>(k + d.choices.size()));
    k += d.choices.size();
    McPrediction p = predictChoice(docLl, d.choices);
    r.acc += p.pred == d.gold ? 1.0 : 0.0;
    r.accNorm += p.predNorm == d.gold ? 1.0 : 0.0;
  }
  r.docs = static_cast<int64_t>(docs.size());
  if (r.docs > 0) {
    r.acc /= static_cast<double>(r.docs);
    r.accNorm /= static_cast<double>(r.docs);
  }
  return r;
}

}  // namespace mamba::pruning
