// mamba-server: serves Mamba-2 models over gRPC (mamba.serving.v1.Inference) with
// Prometheus metrics. With no arguments it serves the built-in default model
// (models/mamba2-ref) on 127.0.0.1:50051, metrics on http://127.0.0.1:9400/metrics.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "server/app/server_runner.h"
#include "server/common/crash_report.h"
#include "server/config/default_model.h"
#include "server/config/server_flags.h"

int main(int argc, char** argv) {
  mamba::installCrashReport("mamba-server");  // a fatal signal leaves a report in the log
  // Before any thread exists, so that every thread inherits the mask.
  mamba::app::blockShutdownSignals();

  CLI::App app{"mamba-server: Mamba-2 inference over gRPC (mamba.serving.v1.Inference)"};
  mamba::config::ServerFlags flags;
  mamba::config::addServerFlags(app, &flags);
  CLI11_PARSE(app, argc, argv);

  auto config = mamba::config::resolveServerConfig(
      flags, mamba::config::defaultModelCandidates(mamba::config::currentExecutable(argv[0])));
  if (!config.isOk()) {
    std::fprintf(stderr, "mamba-server: %s\n", config.status().message().c_str());
    return 2;
  }
  if (flags.checkConfig) {
    // Nothing is loaded or bound: what the server would serve, for CI and deploy checks.
    std::printf("config OK: gRPC %s, metrics %s, admin %s\n", config->grpcListen.c_str(),
                config->metricsEnabled ? config->metricsListen.c_str() : "off",
                config->adminEnabled ? config->adminListen.c_str() : "off");
    for (const auto& m : config->models) {
      std::string variants;
      for (const auto& v : m.variants) variants += (variants.empty() ? "" : ",") + v;
      std::printf("model %s: %s (%s on %s, variants %s, %lld slots)\n", m.name.c_str(), m.path.c_str(),
                  m.dtype.c_str(), m.device.c_str(), variants.c_str(), static_cast<long long>(m.slots));
    }
    return 0;
  }
  return mamba::app::runServer(*config);
}
