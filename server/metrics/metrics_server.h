// MetricsServer: the HTTP exposer. Serves
//   GET /metrics  -> Registry::exposeText(), Content-Type: text/plain; version=0.0.4; charset=utf-8
//   GET /healthz  -> "ok"
// on a port of its own, from a small thread pool of its own (cpp-httplib, Debian's
// libcpp-httplib; the library stays out of this header).
//
// Lifecycle: start() binds and returns once the server accepts connections; stop() (also
// run by the destructor) is idempotent and returns once every server thread has exited. A
// stopped server may be started again. start()/stop() are not meant to race each other;
// port() and address() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "server/common/status.h"
#include "server/metrics/registry.h"

namespace mamba::metrics {

struct MetricsServerOptions {
  std::string host = "127.0.0.1";  // "0.0.0.0" or "::" to listen on every interface.
  int port = 9400;                 // 0 picks a free port; read it back with port().
  int threads = 2;                 // Request-handling threads.
  // Bounds each read/write and the keep-alive wait, and therefore how long stop() can wait
  // for a connection left open by a scraper.
  std::chrono::seconds ioTimeout{2};
};

class MetricsServer {
 public:
  // `registry` must outlive the server.
  MetricsServer(Registry& registry, MetricsServerOptions options);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // INVALID_ARGUMENT for a port outside [0, 65535]; FAILED_PRECONDITION when already
  // running; UNAVAILABLE naming host:port when the address cannot be bound.
  Status start();
  void stop();

  bool running() const { return port_.load() != 0; }
  // The bound port while running, else 0.
  int port() const { return port_.load(); }
  // "host:port" of the bound socket while running (IPv6 hosts in brackets).
  std::string address() const;

 private:
  struct Impl;
  Registry& registry_;
  MetricsServerOptions options_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<int> port_{0};
};

}  // namespace mamba::metrics
