#include "server/metrics/gauge.h"

#include <chrono>

#include "server/metrics/text_format.h"

namespace mamba::metrics {

void Gauge::setToCurrentTime() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  set(std::chrono::duration<double>(now).count());
}

void Gauge::appendSamples(std::string& out, std::string_view name,
                          std::string_view labelBlock) const {
  appendSampleLine(out, name, "", labelBlock, "", formatDouble(value()));
}

}  // namespace mamba::metrics
