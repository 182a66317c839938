// CUDA error checking for kernel launchers (.cu files only).
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "kernels/common/kernel_types.h"

#define MAMBA_CUDA_CHECK(expr)                                                                  \
  do {                                                                                          \
    cudaError_t err_ = (expr);                                                                  \
    if (err_ != cudaSuccess) {                                                                  \
      throw ::mamba::kernels::CudaError(std::string(#expr) + " failed at " __FILE__ ":" +       \
                                        std::to_string(__LINE__) + ": " + cudaGetErrorString(err_)); \
    }                                                                                           \
  } while (0)

// After a <<<>>> launch: reports configuration errors (launch failures surface at the next sync).
#define MAMBA_CUDA_CHECK_LAUNCH() MAMBA_CUDA_CHECK(cudaGetLastError())
