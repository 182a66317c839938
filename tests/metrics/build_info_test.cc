#include "server/metrics/build_info.h"

#include <gtest/gtest.h>

namespace mamba::metrics {
namespace {

TEST(BuildInfo, CompiledInValues) {
  const BuildInfo info = currentBuildInfo();
  EXPECT_EQ(info.version, "0.1.0");
  EXPECT_FALSE(info.gitSha.empty());
  EXPECT_FALSE(info.compiler.empty());
}

TEST(BuildInfo, ExposesConstantOneGauge) {
  Registry r;
  BuildInfo info{"1.2.3", "abc123", "Release", "GNU 12", {{"torch", "2.5.1"}}};
  ASSERT_TRUE(registerBuildInfo(r, info).isOk());
  EXPECT_EQ(r.exposeText(),
            "# HELP mamba_build_info Build information of the running mamba-server; the "
            "value is always 1.\n"
            "# TYPE mamba_build_info gauge\n"
            "mamba_build_info{version=\"1.2.3\",git_sha=\"abc123\",build_type=\"Release\","
            "compiler=\"GNU 12\",torch=\"2.5.1\"} 1\n");
}

TEST(BuildInfo, RejectsBadExtraLabel) {
  Registry r;
  BuildInfo info = currentBuildInfo();
  info.extra = {{"bad-label", "x"}};
  EXPECT_EQ(registerBuildInfo(r, info).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace mamba::metrics
