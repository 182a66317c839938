// mamba_build_info: a constant-1 gauge whose labels identify the running build, the usual
// Prometheus idiom for joining version information onto other series.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "server/common/status.h"
#include "server/metrics/registry.h"

namespace mamba::metrics {

struct BuildInfo {
  std::string version;    // Project version (CMake PROJECT_VERSION).
  std::string gitSha;     // Short commit at configure time, "unknown" outside a checkout.
  std::string buildType;  // CMAKE_BUILD_TYPE.
  std::string compiler;   // e.g. "GNU 12.2.0".
  // Further labels (e.g. {"torch", "2.5.1"}, {"cuda", "12.4"}); names must be valid labels.
  std::vector<std::pair<std::string, std::string>> extra;
};

// The values compiled into this binary. The git SHA is captured when CMake configures, so
// re-run CMake to refresh it after new commits.
BuildInfo currentBuildInfo();

// Registers mamba_build_info{version,git_sha,build_type,compiler,<extra...>} 1.
Status registerBuildInfo(Registry& registry, const BuildInfo& info = currentBuildInfo());

}  // namespace mamba::metrics
