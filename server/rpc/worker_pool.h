// A small fixed thread pool with a bounded queue, for work that blocks (Score runs
// engine.score(), which waits for the scheduler) and so must not run on gRPC's callback
// threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace mamba::rpc {

class WorkerPool {
 public:
  WorkerPool(int threads, size_t maxQueued);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when the queue is full or the pool is stopped (the task is not run).
  bool trySubmit(std::function<void()> task);
  // Runs the queued tasks, then joins the threads. Idempotent.
  void stop();

 private:
  void run();

  const size_t maxQueued_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace mamba::rpc
