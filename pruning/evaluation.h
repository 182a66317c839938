// Accuracy of a (pruned) model held in memory: perplexity on a token stream and zero-shot
// multiple-choice accuracy. Works on a Mamba2Model directly, so the sweep can evaluate a
// pruned variant without writing it to disk.
//
// Perplexity follows the protocol of models/mamba2-ref/README.md, the one the engine's
// mamba::evaluatePerplexity (server/engine/offline.h) implements: non-overlapping windows of
// `context` tokens, each from a zero state; tokens 1..n−1 of a window are scored given the
// window's earlier tokens; log-softmax over the first rawVocabSize logits (padding rows
// excluded); bytes = byte lengths of the scored tokens. Windows are batched (`batch` per
// prefill); the result does not depend on the batch. The fp32 logits of one prefill take
// batch·context·vocab·4 bytes: the batch is reduced so that this stays under 1 GiB.
#pragma once

#include <functional>
#include <span>

#include "pruning/mc_tasks.h"
#include "server/common/perplexity.h"
#include "server/model/mamba2_model.h"
#include "server/tokenizer/tokenizer.h"

namespace mamba::pruning {

using ::mamba::PerplexityStats;  // server/common/perplexity.h

using TokenBytesFn = std::function<int64_t(int32_t)>;

StatusOr<PerplexityStats> windowPerplexity(const Mamba2Model& model, std::span<const int32_t> tokens, int64_t context,
                                           int64_t batch, const TokenBytesFn& tokenBytes);

// Summed log-probabilities (natural log) of each request's continuation given its context,
// `batch` requests per prefill (ragged). Every continuation must be non-empty.
StatusOr<std::vector<double>> continuationLogLikelihoods(const Mamba2Model& model,
                                                         const std::vector<EncodedRequest>& requests, int64_t batch);

// acc / acc_norm over `docs` (see mc_tasks.h). The prefix token of empty contexts is the
// model's EOS id (0 when it has none).
StatusOr<McResult> evaluateMultipleChoice(const Mamba2Model& model, const Tokenizer& tokenizer,
                                          const std::vector<McDoc>& docs, int64_t batch);

}  // namespace mamba::pruning
