#include "server/metrics/metrics_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <httplib.h>

#include "server/metrics/text_format.h"

namespace mamba::metrics {
namespace {

std::string hostPort(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

struct MetricsServer::Impl {
  httplib::Server server;
  std::atomic<bool> listenReturned{false};
};

MetricsServer::MetricsServer(Registry& registry, MetricsServerOptions options)
    : registry_(registry), options_(std::move(options)) {}

MetricsServer::~MetricsServer() { stop(); }

std::string MetricsServer::address() const { return hostPort(options_.host, port()); }

Status MetricsServer::start() {
  if (options_.port < 0 || options_.port > 65535) {
    return invalidArgument("metrics port " + std::to_string(options_.port) +
                           " is outside [0, 65535]");
  }
  if (impl_) return failedPrecondition("metrics server already running on " + address());

  auto impl = std::make_unique<Impl>();
  httplib::Server& server = impl->server;
  const int threads = options_.threads > 0 ? options_.threads : 1;
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  const time_t timeout = std::max<time_t>(1, options_.ioTimeout.count());
  server.set_read_timeout(timeout);
  server.set_write_timeout(timeout);
  server.set_keep_alive_timeout(timeout);
  // httplib's default sets SO_REUSEPORT, which would let a second server silently share a
  // port already in use; SO_REUSEADDR alone still allows quick restarts.
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  Registry* registry = &registry_;
  server.Get("/metrics", [registry](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry->exposeText(), std::string(kTextContentType).c_str());
  });
  server.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain; charset=utf-8");
  });
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        res.status = 500;
        res.set_content(what + "\n", "text/plain; charset=utf-8");
      });

  errno = 0;
  int bound = -1;
  if (options_.port == 0) {
    bound = server.bind_to_any_port(options_.host);
  } else if (server.bind_to_port(options_.host, options_.port)) {
    bound = options_.port;
  }
  if (bound <= 0) {
    const int err = errno;
    return unavailable("metrics server cannot bind " + hostPort(options_.host, options_.port) +
                       (err != 0 ? std::string(": ") + std::strerror(err) : std::string()));
  }

  Impl* raw = impl.get();
  thread_ = std::thread([raw] {
    raw->server.listen_after_bind();
    raw->listenReturned.store(true);
  });
  // httplib's stop() is a no-op until the listen loop has marked itself running, so wait
  // for that (or for the loop to have given up).
  while (!server.is_running() && !raw->listenReturned.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (raw->listenReturned.load()) {
    thread_.join();
    return internalError("metrics server on " + hostPort(options_.host, bound) +
                         " stopped listening right after start");
  }
  impl_ = std::move(impl);
  port_.store(bound);
  return Status::ok();
}

void MetricsServer::stop() {
  if (!impl_) return;
  impl_->server.stop();
  if (thread_.joinable()) thread_.join();
  impl_.reset();
  port_.store(0);
}

}  // namespace mamba::metrics
