// A small fixed set of threads that runs index-parallel loops for one caller at a time (the
// scheduler's host sampling). The calling thread takes part, so a loop runs on up to
// size() + 1 threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mamba {

class ParallelPool {
 public:
  explicit ParallelPool(int threads);  // >= 1 worker threads, started at once
  ~ParallelPool();                     // joins them
  ParallelPool(const ParallelPool&) = delete;
  ParallelPool& operator=(const ParallelPool&) = delete;

  int size() const { return static_cast<int>(threads_.size()); }

  // Calls fn(i) once for every i in [0, n), on the workers and the calling thread, and
  // returns when every call has returned. Which thread runs which i is unspecified. fn must
  // not throw. One caller at a time (not reentrant).
  void parallelFor(size_t n, const std::function<void(size_t)>& fn);

  // The default worker count for host sampling: min(8, hardware threads - 1), at least 1.
  static int defaultThreads();

 private:
  void workerLoop();
  void drain(const std::function<void(size_t)>& fn, size_t n);

  std::mutex mutex_;
  std::condition_variable work_;  // a loop opened, or stop
  std::condition_variable done_;  // busy_ reached 0
  const std::function<void(size_t)>* fn_ = nullptr;
  size_t n_ = 0;
  std::atomic<size_t> next_{0};
  uint64_t generation_ = 0;       // loops opened so far
  bool open_ = false;             // workers may join the current loop
  int busy_ = 0;                  // workers inside the current loop
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mamba
