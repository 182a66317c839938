#include <cuda_runtime.h>

#include <mutex>
#include <string>

#include "kernels/common/cuda_check.cuh"
#include "kernels/common/tensor_map.h"

namespace mamba::kernels {
namespace {

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

EncodeTiled encodeTiled() {
  static EncodeTiled fn = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    void* p = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &p, 12000, cudaEnableDefault, &found) ==
            cudaSuccess &&
        found == cudaDriverEntryPointSuccess) {
      fn = reinterpret_cast<EncodeTiled>(p);
    }
  });
  if (fn == nullptr) throw CudaError("tensorMap2d16: the driver has no cuTensorMapEncodeTiled");
  return fn;
}

}  // namespace

CUtensorMap tensorMap2d16(const void* base, uint64_t cols, uint64_t rows, uint64_t rowStrideBytes, uint32_t boxCols,
                          uint32_t boxRows) {
  CUtensorMap map{};
  const cuuint64_t dims[2] = {cols, rows};
  const cuuint64_t strides[1] = {rowStrideBytes};
  const cuuint32_t box[2] = {boxCols, boxRows};
  const cuuint32_t elementStrides[2] = {1, 1};
  const CUresult r = encodeTiled()(&map, CU_TENSOR_MAP_DATA_TYPE_UINT16, 2, const_cast<void*>(base), dims, strides, box,
                                   elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_NONE,
                                   CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    throw CudaError("tensorMap2d16: cuTensorMapEncodeTiled failed (" + std::to_string(static_cast<int>(r)) + ") for " +
                    std::to_string(cols) + " x " + std::to_string(rows) + " elements, row stride " +
                    std::to_string(rowStrideBytes) + " bytes, box " + std::to_string(boxCols) + " x " +
                    std::to_string(boxRows));
  }
  return map;
}

}  // namespace mamba::kernels
