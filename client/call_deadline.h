// The deadline of one mamba-cli call: --timeout seconds from now; 0 or less leaves the call
// without a deadline.
#pragma once

#include <grpcpp/client_context.h>

#include <chrono>
#include <cstdint>

namespace mamba::client {

inline void setTimeout(grpc::ClientContext* ctx, double seconds) {
  if (seconds > 0) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  }
}

}  // namespace mamba::client
