#include "server/metrics/counter.h"

#include "server/metrics/text_format.h"

namespace mamba::metrics {

void Counter::inc(double amount) {
  if (!(amount >= 0.0)) return;  // Also rejects NaN.
  value_.fetch_add(amount, std::memory_order_relaxed);
}

void Counter::appendSamples(std::string& out, std::string_view name,
                            std::string_view labelBlock) const {
  appendSampleLine(out, name, "", labelBlock, "", formatDouble(value()));
}

}  // namespace mamba::metrics
