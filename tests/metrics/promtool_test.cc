// `promtool check metrics` (format parse + lint) on a realistic exposition: every serving
// family with two models, process metrics, build info, awkward label values.
#include <gtest/gtest.h>

#include <filesystem>

#include "server/metrics/build_info.h"
#include "server/metrics/process_collector.h"
#include "server/metrics/registry.h"
#include "server/metrics/serving_metrics.h"
#include "tests/common/test_support.h"

namespace mamba::metrics {
namespace {

using namespace std::chrono_literals;

#ifndef MAMBA_PROMTOOL
#define MAMBA_PROMTOOL "/usr/bin/promtool"
#endif

std::string realisticExposition() {
  Registry r;
  auto sm = ServingMetrics::create(r);
  EXPECT_TRUE(sm.isOk());
  EXPECT_TRUE(registerProcessCollector(r).isOk());
  EXPECT_TRUE(registerBuildInfo(r).isOk());
  for (const auto& [model, variant] : std::vector<std::pair<std::string, std::string>>{
           {"mamba2-130m", "dense"}, {"mamba2-130m", "masked"},
           {"weird \"name\"\\with\nnewline", "compacted"}}) {
    const ModelMetrics* m = (*sm)->forModel(model, variant).value();
    for (int i = 0; i < 100; ++i) {
      m->ttft->observe(0.0001 * (i + 1));
      m->tpot->observe(0.00003 * (i + 1));
      m->interToken->observe(0.00002 * (i + 1));
      m->e2e->observe(0.05 * i);
      m->queue->observe(i % 7 == 0 ? 0.0 : 0.001 * i);
      m->prefillBatch->observe(0.002 * i);
      m->decodeStep->observe(0.00007 * i);
      m->batchSize->observe(i % 33);
      m->requestFinished(i % 10 == 0 ? StatusCode::kDeadlineExceeded : StatusCode::kOk);
    }
    m->promptTokens->inc(12345);
    m->generationTokens->inc(1e7);
    m->running->set(3);
    m->waiting->set(0);
    m->slotsUsed->set(3);
    m->slotsCapacity->set(64);
    m->stateBytesPerSequence->set(1.5e6);
  }
  return r.exposeText();
}

TEST(Promtool, CheckMetricsAcceptsRealisticExposition) {
  if (!std::filesystem::exists(MAMBA_PROMTOOL)) GTEST_SKIP() << MAMBA_PROMTOOL << " missing";
  testing::TempDir dir;
  const auto file = dir.path() / "metrics.txt";
  const std::string text = realisticExposition();
  testing::writeFile(file, text);
  auto result = testing::runCommand({MAMBA_PROMTOOL, "check", "metrics"}, file.string(), 20s);
  EXPECT_EQ(result.exitCode, 0) << result.output << "\n--- exposition ---\n" << text;
  EXPECT_EQ(result.output, "") << result.output;
}

TEST(Promtool, CheckMetricsRejectsBrokenText) {
  // Guards the test above against a promtool that accepts anything.
  if (!std::filesystem::exists(MAMBA_PROMTOOL)) GTEST_SKIP() << MAMBA_PROMTOOL << " missing";
  testing::TempDir dir;
  const auto file = dir.path() / "metrics.txt";
  testing::writeFile(file, "# TYPE x counter\nx{a=\"unterminated} 1\n");
  auto result = testing::runCommand({MAMBA_PROMTOOL, "check", "metrics"}, file.string(), 20s);
  EXPECT_NE(result.exitCode, 0) << result.output;
}

}  // namespace
}  // namespace mamba::metrics
