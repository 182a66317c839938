#include "server/metrics/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/common/test_support.h"

namespace mamba::metrics {
namespace {

using namespace std::chrono_literals;

MetricsServerOptions anyPort() {
  MetricsServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  return o;
}

TEST(MetricsServer, ServesMetricsAndHealthz) {
  Registry r;
  auto c = r.counter("served_total", "Served.", {"model"});
  ASSERT_TRUE(c.isOk());
  (*c)->withLabels({"m"}).value()->inc(2);
  MetricsServer server(r, anyPort());
  ASSERT_TRUE(server.start().isOk());
  ASSERT_GT(server.port(), 0);
  EXPECT_TRUE(server.running());
  EXPECT_EQ(server.address(), "127.0.0.1:" + std::to_string(server.port()));

  httplib::Client client("127.0.0.1", server.port());
  client.set_connection_timeout(2);
  client.set_read_timeout(5);
  auto res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, r.exposeText());
  EXPECT_NE(res->body.find("served_total{model=\"m\"} 2\n"), std::string::npos);

  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");

  auto missing = client.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  server.stop();
  EXPECT_FALSE(server.running());
  EXPECT_EQ(server.port(), 0);
}

TEST(MetricsServer, StopIsIdempotentAndRestartWorks) {
  Registry r;
  MetricsServer server(r, anyPort());
  server.stop();  // Never started: no-op.
  ASSERT_TRUE(server.start().isOk());
  auto again = server.start();
  EXPECT_EQ(again.code(), StatusCode::kFailedPrecondition);
  server.stop();
  server.stop();
  ASSERT_TRUE(server.start().isOk());
  httplib::Client client("127.0.0.1", server.port());
  auto res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(MetricsServer, BindFailureNamesTheAddress) {
  // Hold a port with a plain listening socket.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  Registry r;
  MetricsServerOptions o;
  o.port = port;
  MetricsServer server(r, o);
  Status s = server.start();
  close(fd);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << s.message();
  EXPECT_FALSE(server.running());
}

TEST(MetricsServer, SecondServerOnSamePortFails) {
  Registry r;
  MetricsServer first(r, anyPort());
  ASSERT_TRUE(first.start().isOk());
  MetricsServerOptions o;
  o.port = first.port();
  MetricsServer second(r, o);
  EXPECT_EQ(second.start().code(), StatusCode::kUnavailable);
}

TEST(MetricsServer, RejectsBadPortAndHost) {
  Registry r;
  MetricsServerOptions o;
  o.port = 70000;
  EXPECT_EQ(MetricsServer(r, o).start().code(), StatusCode::kInvalidArgument);
  o.port = 0;
  o.host = "not-a-host.invalid";
  MetricsServer bad(r, o);
  Status s = bad.start();
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("not-a-host.invalid:0"), std::string::npos) << s.message();
}

TEST(MetricsServer, StopsPromptlyWithKeepAliveConnectionOpen) {
  Registry r;
  MetricsServerOptions o = anyPort();
  o.ioTimeout = 1s;
  MetricsServer server(r, o);
  ASSERT_TRUE(server.start().isOk());
  httplib::Client client("127.0.0.1", server.port());
  client.set_keep_alive(true);
  ASSERT_TRUE(client.Get("/metrics"));
  const auto t0 = std::chrono::steady_clock::now();
  server.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(MetricsServer, ConcurrentScrapesWhileObserving) {
  Registry r;
  auto h = r.histogram("work_seconds", "Work.", {"model"}, {0.001, 0.01});
  ASSERT_TRUE(h.isOk());
  Histogram* hist = (*h)->withLabels({"m"}).value();
  MetricsServer server(r, anyPort());
  ASSERT_TRUE(server.start().isOk());
  std::atomic<bool> done{false};
  std::thread observer([&] {
    while (!done.load()) hist->observe(0.005);
  });
  std::vector<std::thread> scrapers;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    scrapers.emplace_back([&] {
      httplib::Client client("127.0.0.1", server.port());
      client.set_read_timeout(5);
      for (int i = 0; i < 10; ++i) {
        auto res = client.Get("/metrics");
        if (res && res->status == 200 &&
            res->body.find("work_seconds_count{model=\"m\"}") != std::string::npos) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : scrapers) t.join();
  done.store(true);
  observer.join();
  EXPECT_EQ(ok.load(), 40);
}

}  // namespace
}  // namespace mamba::metrics
