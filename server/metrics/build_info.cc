#include "server/metrics/build_info.h"

#ifndef MAMBA_METRICS_VERSION
#define MAMBA_METRICS_VERSION "unknown"
#endif
#ifndef MAMBA_METRICS_GIT_SHA
#define MAMBA_METRICS_GIT_SHA "unknown"
#endif
#ifndef MAMBA_METRICS_BUILD_TYPE
#define MAMBA_METRICS_BUILD_TYPE "unknown"
#endif
#ifndef MAMBA_METRICS_COMPILER
#define MAMBA_METRICS_COMPILER "unknown"
#endif

namespace mamba::metrics {

BuildInfo currentBuildInfo() {
  BuildInfo info;
  info.version = MAMBA_METRICS_VERSION;
  info.gitSha = MAMBA_METRICS_GIT_SHA;
  info.buildType = MAMBA_METRICS_BUILD_TYPE;
  info.compiler = MAMBA_METRICS_COMPILER;
  return info;
}

Status registerBuildInfo(Registry& registry, const BuildInfo& info) {
  std::vector<std::string> names = {"version", "git_sha", "build_type", "compiler"};
  std::vector<std::string> values = {info.version, info.gitSha, info.buildType, info.compiler};
  for (const auto& [name, value] : info.extra) {
    names.push_back(name);
    values.push_back(value);
  }
  MAMBA_ASSIGN_OR_RETURN(auto* family,
                         registry.gauge("mamba_build_info",
                                        "Build information of the running mamba-server; "
                                        "the value is always 1.",
                                        names));
  MAMBA_ASSIGN_OR_RETURN(Gauge * gauge, family->withLabels(values));
  gauge->set(1.0);
  return Status::ok();
}

}  // namespace mamba::metrics
