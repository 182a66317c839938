// Torch-free types shared by the kernel launchers: element types and the CUDA error check.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mamba::kernels {

enum class ElemType { kF32, kF16, kBF16 };

// Thrown by a launcher when a CUDA call or launch fails; the torch adapters turn it into a
// c10::Error and the model layer into a Status.
class CudaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// cudaStream_t without including cuda_runtime.h in torch-free headers.
using Stream = void*;

}  // namespace mamba::kernels
