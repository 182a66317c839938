#include "kernels/greedy/greedy.cuh"

namespace mamba::kernels {

void launchGreedyPick(const GreedyPickParams& p, Stream stream) {
  if (p.rows < 0 || p.vocab < 1 || p.stride < p.vocab) throw CudaError("launchGreedyPick: invalid sizes");
  if (p.rows == 0) return;
  launchKernel(greedyPickKernel, dim3(p.rows), dim3(kGreedyThreads), 0, static_cast<cudaStream_t>(stream), p);
}

}  // namespace mamba::kernels
