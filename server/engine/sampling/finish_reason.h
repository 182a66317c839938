// Why a request stopped generating.
#pragma once

namespace mamba {

enum class FinishReason {
  kLength,      // max_new_tokens reached
  kStop,        // EOS or one of stop_token_ids was sampled
  kStopString,  // one of stop_strings appeared in the output text
  kCancelled,   // the client went away or cancelled
  kDeadline,    // the request's deadline passed
  kError,       // an internal error ended the request
};

// "length", "stop", "stop_string", "cancelled", "deadline", "error".
const char* finishReasonName(FinishReason reason);

}  // namespace mamba
