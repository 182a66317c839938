#include "server/metrics/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace mamba::metrics {
namespace {

TEST(Registry, ExposesExactTextForSmallRegistry) {
  Registry r;
  auto requests = r.counter("app_requests_total", "Requests served.", {"code"});
  ASSERT_TRUE(requests.isOk()) << requests.status().toString();
  (*requests)->withLabels({"500"}).value()->inc();
  (*requests)->withLabels({"200"}).value()->inc(3);

  auto temp = r.gauge("app_temperature_celsius", "Temperature \\ with\nnewline.");
  ASSERT_TRUE(temp.isOk());
  (*temp)->withLabels({}).value()->set(-1.5);

  auto lat = r.histogram("app_latency_seconds", "Latency.", {"model", "variant"},
                         {0.125, 0.5, 1});
  ASSERT_TRUE(lat.isOk());
  Histogram* h = (*lat)->withLabels({"m", "dense"}).value();
  h->observe(0.125);
  h->observe(0.25);
  h->observe(0.5);
  h->observe(2);

  EXPECT_EQ(r.exposeText(),
            "# HELP app_latency_seconds Latency.\n"
            "# TYPE app_latency_seconds histogram\n"
            "app_latency_seconds_bucket{model=\"m\",variant=\"dense\",le=\"0.125\"} 1\n"
            "app_latency_seconds_bucket{model=\"m\",variant=\"dense\",le=\"0.5\"} 3\n"
            "app_latency_seconds_bucket{model=\"m\",variant=\"dense\",le=\"1\"} 3\n"
            "app_latency_seconds_bucket{model=\"m\",variant=\"dense\",le=\"+Inf\"} 4\n"
            "app_latency_seconds_sum{model=\"m\",variant=\"dense\"} 2.875\n"
            "app_latency_seconds_count{model=\"m\",variant=\"dense\"} 4\n"
            "# HELP app_requests_total Requests served.\n"
            "# TYPE app_requests_total counter\n"
            "app_requests_total{code=\"200\"} 3\n"
            "app_requests_total{code=\"500\"} 1\n"
            "# HELP app_temperature_celsius Temperature \\\\ with\\nnewline.\n"
            "# TYPE app_temperature_celsius gauge\n"
            "app_temperature_celsius -1.5\n");
}

TEST(Registry, UnlabelledMetricsExistFromRegistrationLabelledOnesFromFirstUse) {
  Registry r;
  ASSERT_TRUE(r.counter("a_total", "A.").isOk());
  ASSERT_TRUE(r.counter("b_total", "B.", {"x"}).isOk());
  EXPECT_EQ(r.exposeText(), "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n");
}

TEST(Registry, EscapesLabelValues) {
  Registry r;
  auto g = r.gauge("g", "G.", {"path"});
  ASSERT_TRUE(g.isOk());
  (*g)->withLabels({"C:\\dir \"q\"\nnext"}).value()->set(1);
  EXPECT_EQ(r.exposeText(),
            "# HELP g G.\n# TYPE g gauge\ng{path=\"C:\\\\dir \\\"q\\\"\\nnext\"} 1\n");
}

TEST(Registry, WithLabelsReturnsStableHandles) {
  Registry r;
  auto c = r.counter("c_total", "C.", {"model", "variant"});
  ASSERT_TRUE(c.isOk());
  Counter* a = (*c)->withLabels({"m", "dense"}).value();
  for (int i = 0; i < 1000; ++i) {
    (void)(*c)->withLabels({std::string("m").append(std::to_string(i)), "x"});
  }
  EXPECT_EQ((*c)->withLabels({"m", "dense"}).value(), a);
  EXPECT_NE((*c)->withLabels({"m", "masked"}).value(), a);
  // ("ab","c") and ("a","bc") are different children.
  EXPECT_NE((*c)->withLabels({"ab", "c"}).value(), (*c)->withLabels({"a", "bc"}).value());
  EXPECT_EQ((*c)->size(), 1004u);
}

TEST(Registry, WithLabelsRejectsWrongArityAndBadUtf8) {
  Registry r;
  auto c = r.counter("c_total", "C.", {"model", "variant"});
  ASSERT_TRUE(c.isOk());
  auto few = (*c)->withLabels({"m"});
  ASSERT_FALSE(few.isOk());
  EXPECT_EQ(few.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(few.status().message().find("c_total"), std::string::npos);
  EXPECT_FALSE((*c)->withLabels({"m", "v", "x"}).isOk());
  EXPECT_FALSE((*c)->withLabels({"m", "\xff"}).isOk());
}

TEST(Registry, SameRegistrationReturnsSameFamily) {
  Registry r;
  auto a = r.histogram("h_seconds", "H.", {"model"}, {1, 2});
  auto b = r.histogram("h_seconds", "Other help.", {"model"}, {1, 2});
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ((*b)->help(), "H.");
}

TEST(Registry, DuplicateWithDifferentTypeLabelsOrBucketsFails) {
  Registry r;
  ASSERT_TRUE(r.counter("x_total", "X.", {"a"}).isOk());
  auto asGauge = r.gauge("x_total", "X.", {"a"});
  ASSERT_FALSE(asGauge.isOk());
  EXPECT_EQ(asGauge.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(asGauge.status().message().find("counter"), std::string::npos);
  auto otherLabels = r.counter("x_total", "X.", {"b"});
  ASSERT_FALSE(otherLabels.isOk());
  EXPECT_EQ(otherLabels.status().code(), StatusCode::kAlreadyExists);
  EXPECT_FALSE(r.counter("x_total", "X.", {"a", "b"}).isOk());
  EXPECT_FALSE(r.counter("x_total", "X.").isOk());

  ASSERT_TRUE(r.histogram("h", "H.", {}, {1, 2}).isOk());
  EXPECT_FALSE(r.histogram("h", "H.", {}, {1, 3}).isOk());
}

TEST(Registry, SeriesNameCollisionsFail) {
  Registry r;
  ASSERT_TRUE(r.histogram("lat", "L.", {}, {1}).isOk());
  for (const char* name : {"lat_bucket", "lat_sum", "lat_count"}) {
    auto c = r.counter(name, "C.");
    ASSERT_FALSE(c.isOk()) << name;
    EXPECT_EQ(c.status().code(), StatusCode::kAlreadyExists);
  }
  ASSERT_TRUE(r.gauge("q_count", "Q.").isOk());
  EXPECT_FALSE(r.histogram("q", "Q.", {}, {1}).isOk());
}

TEST(Registry, InvalidNamesFail) {
  Registry r;
  auto badName = r.counter("bad-name", "B.");
  ASSERT_FALSE(badName.isOk());
  EXPECT_EQ(badName.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(badName.status().message().find("bad-name"), std::string::npos);
  EXPECT_FALSE(r.counter("", "B.").isOk());
  EXPECT_FALSE(r.gauge("g", "G.", {"__name__"}).isOk());
  EXPECT_FALSE(r.gauge("g", "G.", {"bad label"}).isOk());
  EXPECT_FALSE(r.gauge("g", "G.", {"a", "a"}).isOk());
  EXPECT_FALSE(r.histogram("h", "H.", {"le"}, {1}).isOk());
  EXPECT_FALSE(r.histogram("h", "H.", {}, {2, 1}).isOk());
  EXPECT_TRUE(r.gauge("g", "G.", {"le"}).isOk());  // Only histograms reserve "le".
  EXPECT_EQ(r.familyNames(), std::vector<std::string>{"g"});
}

TEST(Registry, CollectorsRunAtScrapeTime) {
  Registry r;
  auto g = r.gauge("scrapes", "Scrapes so far.");
  ASSERT_TRUE(g.isOk());
  Gauge* gauge = (*g)->withLabels({}).value();
  r.addCollector([gauge](Registry&) { gauge->inc(); });
  // A collector may register families.
  r.addCollector([](Registry& reg) {
    auto late = reg.gauge("late", "Registered by a collector.");
    if (late.isOk()) (*late)->withLabels({}).value()->set(7);
  });
  EXPECT_NE(r.exposeText().find("scrapes 1\n"), std::string::npos);
  const std::string second = r.exposeText();
  EXPECT_NE(second.find("scrapes 2\n"), std::string::npos);
  EXPECT_NE(second.find("late 7\n"), std::string::npos);
}

TEST(Registry, ConcurrentUseFromManyThreads) {
  Registry r;
  auto c = r.counter("hits_total", "Hits.", {"worker"});
  auto h = r.histogram("work_seconds", "Work.", {"worker"}, {0.5, 1});
  ASSERT_TRUE(c.isOk());
  ASSERT_TRUE(h.isOk());
  constexpr int kThreads = 8;
  constexpr int kPerThread = 20000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) (void)r.exposeText();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        // Every thread hits a shared child and creates its own.
        (*c)->withLabels({"shared"}).value()->inc();
        (*c)->withLabels({std::string("w").append(std::to_string(t))}).value()->inc();
        (*h)->withLabels({"shared"}).value()->observe(0.75);
      }
    });
  }
  for (auto& th : threads) th.join();
  done.store(true);
  scraper.join();
  EXPECT_EQ((*c)->withLabels({"shared"}).value()->value(), double(kThreads * kPerThread));
  EXPECT_EQ((*c)->withLabels({"w3"}).value()->value(), double(kPerThread));
  const std::string text = r.exposeText();
  EXPECT_NE(text.find("hits_total{worker=\"shared\"} 160000\n"), std::string::npos);
  EXPECT_NE(text.find("work_seconds_bucket{worker=\"shared\",le=\"1\"} 160000\n"),
            std::string::npos);
  EXPECT_NE(text.find("work_seconds_count{worker=\"shared\"} 160000\n"), std::string::npos);
}

}  // namespace
}  // namespace mamba::metrics
