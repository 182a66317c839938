// The deadline of one mamba-cli call: --timeout seconds from now; 0 or less leaves the call
// without a deadline.
#pragma once

#include <grpcpp/client_context.h>

#include <chrono>
#include <cstdint>

namespace mamba::client {

// `seconds` from now, to the millisecond.
inline std::chrono::system_clock::time_point deadlineAfter(double seconds) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

inline void setTimeout(grpc::ClientContext* ctx, double seconds) {
  if (seconds > 0) ctx->set_deadline(deadlineAfter(seconds));
}

}  // namespace mamba::client
