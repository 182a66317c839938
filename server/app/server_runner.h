// Runs mamba-server from a resolved ServerConfig: metrics registry and /metrics endpoint,
// engine, gRPC server; then waits for SIGTERM/SIGINT and drains.
//
// Signals: the caller blocks SIGTERM and SIGINT in every thread (blockShutdownSignals(),
// before any thread starts) and runServer() receives them with sigtimedwait() on the main
// thread, so no async signal handler runs. The first signal starts the drain (health
// NOT_SERVING, new calls UNAVAILABLE, in-flight calls continue up to the drain timeout); a
// second one cancels what is still running at once.
#pragma once

#include "server/config/server_config.h"

namespace mamba::app {

// Blocks SIGTERM, SIGINT (and SIGPIPE) for the calling thread and the threads it creates.
void blockShutdownSignals();

// Returns the process exit code: 0 after a clean (or timed-out) drain, 1 when startup fails.
int runServer(const config::ServerConfig& config);

}  // namespace mamba::app
