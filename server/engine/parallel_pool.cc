#include "server/engine/parallel_pool.h"

#include <algorithm>

namespace mamba {

ParallelPool::ParallelPool(int threads) {
  threads = std::max(threads, 1);
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { workerLoop(); });
}

ParallelPool::~ParallelPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  for (std::thread& t : threads_) t.join();
}

int ParallelPool::defaultThreads() {
  const int hw = static_cast<int>(std::thread::hardware_concurrency());
  return std::clamp(hw - 1, 1, 8);
}

void ParallelPool::drain(const std::function<void(size_t)>& fn, size_t n) {
  for (size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < n;
       i = next_.fetch_add(1, std::memory_order_relaxed)) {
    fn(i);
  }
}

void ParallelPool::parallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  {
    std::lock_guard lock(mutex_);
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    open_ = true;
    ++generation_;
  }
  work_.notify_all();
  drain(fn, n);
  // Every index is taken. Close the loop so that no late worker joins it, then wait for the
  // workers still running their last index (the mutex orders their writes before our return).
  std::unique_lock lock(mutex_);
  open_ = false;
  done_.wait(lock, [&] { return busy_ == 0; });
  fn_ = nullptr;
}

void ParallelPool::workerLoop() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(size_t)>* fn = nullptr;
    size_t n = 0;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [&] { return stop_ || (open_ && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      fn = fn_;
      n = n_;
      ++busy_;
    }
    drain(*fn, n);
    {
      std::lock_guard lock(mutex_);
      if (--busy_ == 0) done_.notify_all();
    }
  }
}

}  // namespace mamba
