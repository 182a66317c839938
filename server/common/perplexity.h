// Perplexity accumulator shared by the engine's evaluation and the pruning study, so that both
// report the same quantities from the same sums.
#pragma once

#include <cmath>
#include <cstdint>

namespace mamba {

struct PerplexityStats {
  int64_t tokensScored = 0;
  int64_t bytesScored = 0;   // UTF-8 bytes of the scored tokens
  double nllSum = 0;         // nats
  double meanNll() const { return tokensScored ? nllSum / static_cast<double>(tokensScored) : 0.0; }
  double perplexity() const { return std::exp(meanNll()); }
  double bitsPerByte() const {
    return bytesScored ? nllSum / (std::log(2.0) * static_cast<double>(bytesScored)) : 0.0;
  }
};

}  // namespace mamba
