// Device-side timing of the CUDA backend's steps (asynchronous decode steps, prefill calls),
// for finding where the server's time per token goes beyond the graphs (MAMBA_STEP_PROFILE=1;
// off by default: its events cost a little). Per step, events on the step's stream mark: start
// (before the input copies), graph (after the model's graph or kernels), end (after the
// outputs' copy to the host). Every `window` finished steps it prints to stderr the medians
// of: inputs + graph (start -> graph), outputs (graph -> end), the device idle gap before the
// step (the previous step's end -> start; large when the host enqueues steps too late) and,
// where the caller gives it, the host's wall time of the whole call.
// Private to torch_backend.cc (torch types); one scheduler thread uses it.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <vector>

#include <c10/core/Event.h>
#include <c10/core/Stream.h>

namespace mamba {

class DeviceStepProfile {
 public:
  DeviceStepProfile(const char* name, size_t window) : name_(name), window_(window) {}

  static bool enabledByEnv() {
    const char* e = std::getenv("MAMBA_STEP_PROFILE");
    return e != nullptr && *e != '\0' && *e != '0';
  }

  // Marks of step `step` (steps are numbered in start order; at most kRing - 2 in flight).
  void markStart(uint64_t step, const c10::Stream& s) { record(step, 0, s); }
  void markGraph(uint64_t step, const c10::Stream& s) { record(step, 1, s); }
  void markEnd(uint64_t step, const c10::Stream& s) { record(step, 2, s); }

  // After step `step`'s end event completed (its outputs are on the host); hostMs: the call's
  // wall time on the host, or < 0 when not measured.
  void finished(uint64_t step, double hostMs = -1.0) {
    Marks& m = ring_[step % kRing];
    if (!m.ev[0] || !m.ev[1] || !m.ev[2]) return;
    m.ev[2]->synchronize();  // the caller waited for an event just before it: normally done
    graph_.push_back(m.ev[0]->elapsedTime(*m.ev[1]));
    outputs_.push_back(m.ev[1]->elapsedTime(*m.ev[2]));
    const Marks& prev = ring_[(step + kRing - 1) % kRing];
    if (step > 0 && prev.ev[2] && prev.step == step - 1) gap_.push_back(prev.ev[2]->elapsedTime(*m.ev[0]));
    if (hostMs >= 0) host_.push_back(hostMs);
    if (graph_.size() >= window_) {
      std::fprintf(stderr,
                   "%s profile (%zu calls, medians in us): inputs+graph %.1f, outputs %.1f, idle gap before "
                   "the call %.1f, host wall time %.1f\n",
                   name_, graph_.size(), 1e3 * median(graph_), 1e3 * median(outputs_), 1e3 * median(gap_),
                   1e3 * median(host_));
      graph_.clear();
      outputs_.clear();
      gap_.clear();
      host_.clear();
    }
  }

 private:
  static constexpr size_t kRing = 4;
  struct Marks {
    uint64_t step = 0;
    std::array<std::optional<c10::Event>, 3> ev;
  };

  void record(uint64_t step, int i, const c10::Stream& s) {
    Marks& m = ring_[step % kRing];
    m.step = step;
    if (!m.ev[static_cast<size_t>(i)]) m.ev[static_cast<size_t>(i)].emplace(s.device_type(), c10::EventFlag::BACKEND_DEFAULT);
    m.ev[static_cast<size_t>(i)]->record(s);
  }
  static double median(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    return v[v.size() / 2];
  }

  const char* name_;
  size_t window_;
  std::array<Marks, kRing> ring_;
  std::vector<double> graph_, outputs_, gap_, host_;  // milliseconds, the current window
};

}  // namespace mamba
