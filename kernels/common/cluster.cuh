// Thread-block cluster barriers (sm_90+; no-ops when compiled for older devices, whose kernels
// must not rely on them). Every thread of every block of the cluster executes each barrier
// phase: one arrive, then one wait, uniformly within each warp (.aligned).
#pragma once

namespace mamba::kernels {

// Arrive (release: this thread's earlier memory accesses, shared or global, are ordered before
// any wait that returns after this phase completes).
__device__ __forceinline__ void clusterArrive() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
#endif
}

// Wait (acquire) until every thread of the cluster has arrived on the current phase.
__device__ __forceinline__ void clusterWait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}

// Arrive + wait: shared-memory writes before it are visible cluster-wide.
__device__ __forceinline__ void clusterSync() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.aligned;\nbarrier.cluster.wait.aligned;\n" ::: "memory");
#endif
}

// The same without publishing memory (no fence): for the final "nobody reads my shared memory
// any more" barrier, whose reads have all been consumed before the arrive.
__device__ __forceinline__ void clusterSyncRelaxed() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("barrier.cluster.arrive.relaxed.aligned;\nbarrier.cluster.wait.aligned;\n" ::: "memory");
#endif
}

}  // namespace mamba::kernels
