// The Status boundary around model code: LibTorch reports failures (out of memory, a CUDA
// error, a shape it rejects) as c10::Error, and the model layer throws StatusError where it
// cannot return a Status (status.h). Callers that return Status (the engine's backend, the
// pruning evaluation) run model calls through guardedModelCall.
#pragma once

#include <exception>
#include <string>
#include <utility>

#include <c10/util/Exception.h>

#include "server/common/status.h"

namespace mamba {

// fn() -> Status. A StatusError comes back as its own Status; a c10::Error or any other
// std::exception as kInternal "model execution failed: <what>" (LibTorch's message without
// its C++ backtrace).
template <typename Fn>
Status guardedModelCall(Fn&& fn) {
  try {
    return std::forward<Fn>(fn)();
  } catch (const StatusError& e) {
    return e.status();
  } catch (const c10::Error& e) {
    return internalError(std::string("model execution failed: ") + e.what_without_backtrace());
  } catch (const std::exception& e) {
    return internalError(std::string("model execution failed: ") + e.what());
  }
}

}  // namespace mamba
