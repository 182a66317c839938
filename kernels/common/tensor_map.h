// TMA tensor maps (sm_90+) for the kernels that stage tiles with one bulk tensor copy: host
// side. The descriptor is built by the driver (cuTensorMapEncodeTiled, found through the runtime's
// entry-point query, so nothing links libcuda) and passed by value as a __grid_constant__ kernel
// parameter.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace mamba::kernels {

// A 2-D tiled map of 16-bit elements: `rows` rows of `cols` elements, rowStrideBytes apart (a
// multiple of 16), from `base` (16-byte aligned); boxes of boxCols x boxRows (boxCols * 2 a
// multiple of 16, both <= 256) land in shared memory as boxRows dense rows of boxCols elements.
// Elements outside the tensor read as zero (and still count as transferred bytes). Throws
// CudaError when the driver refuses the descriptor.
CUtensorMap tensorMap2d16(const void* base, uint64_t cols, uint64_t rows, uint64_t rowStrideBytes, uint32_t boxCols,
                          uint32_t boxRows);

}  // namespace mamba::kernels
