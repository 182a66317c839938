#include "server/engine/sampling/stop_checker.h"

#include <algorithm>
#include <utility>

namespace mamba {

StopChecker::StopChecker(std::vector<std::string> stopStrings) {
  for (std::string& s : stopStrings) {
    if (s.empty()) continue;
    Pattern p;
    p.text = std::move(s);
    p.failure.assign(p.text.size(), 0);
    for (size_t i = 1, k = 0; i < p.text.size(); ++i) {
      while (k > 0 && p.text[i] != p.text[k]) k = p.failure[k - 1];
      if (p.text[i] == p.text[k]) ++k;
      p.failure[i] = k;
    }
    patterns_.push_back(std::move(p));
  }
}

StopChecker::Step StopChecker::push(std::string_view tokenBytes) {
  Step step;
  if (stopped_) {
    step.stopped = true;
    return step;
  }
  const size_t start = held_.size();
  held_.append(tokenBytes);
  for (size_t pos = start; pos < held_.size(); ++pos) {
    const char c = held_[pos];
    size_t matchLen = 0;  // longest stop string ending at pos
    for (Pattern& p : patterns_) {
      size_t k = p.state;
      while (k > 0 && p.text[k] != c) k = p.failure[k - 1];
      if (p.text[k] == c) ++k;
      if (k == p.text.size()) {
        matchLen = std::max(matchLen, k);
        k = p.failure[k - 1];
      }
      p.state = k;
    }
    if (matchLen > 0) {
      // The matched prefix was held back, so it lies inside held_.
      step.emit = held_.substr(0, pos + 1 - matchLen);
      step.stopped = true;
      stopped_ = true;
      held_.clear();
      return step;
    }
  }
  size_t hold = 0;
  for (const Pattern& p : patterns_) hold = std::max(hold, p.state);
  step.emit = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return step;
}

std::string StopChecker::flush() {
  for (Pattern& p : patterns_) p.state = 0;
  return std::exchange(held_, std::string());
}

}  // namespace mamba
