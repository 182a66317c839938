// Zero many device byte ranges with one launch. For resetting a state-pool slot, whose conv and
// SSM states are two ranges per layer (48 for the 130m shape): one launch instead of 48
// zero_() ops, each several microseconds of host time on the path to a request's first token.
#pragma once

#include <cstdint>

#include "kernels/common/kernel_types.h"

namespace mamba::kernels {

constexpr int kZeroFillMaxRanges = 128;  // a 64-layer model's conv + SSM states (2.7b)

struct ZeroFillParams {
  int count = 0;                                   // ranges used, <= kZeroFillMaxRanges
  void* ptr[kZeroFillMaxRanges] = {};              // [count] device pointers, any alignment
  int64_t bytes[kZeroFillMaxRanges] = {};          // [count] lengths in bytes
};

// Writes zeros to every range, on `stream` (PDL: after the previous kernel). Throws CudaError
// for a bad count or a null pointer with a nonzero length, or when the launch fails.
void launchZeroFill(const ZeroFillParams& p, Stream stream);

}  // namespace mamba::kernels
