#include <algorithm>

#include "kernels/greedy/greedy.cuh"

namespace mamba::kernels {

int greedyPickChunks(int rows, int vocab) {
  constexpr int kMinChunk = 1024, kMaxChunks = 128;
  if (rows < 1 || vocab < 1) return 1;
  const int kTargetBlocks = 2 * deviceSmCount();  // two per SM
  const int byBlocks = (kTargetBlocks + rows - 1) / rows;
  const int bySize = (vocab + kMinChunk - 1) / kMinChunk;
  return std::max(1, std::min({byBlocks, bySize, kMaxChunks}));
}

void launchGreedyPick(const GreedyPickParams& p, Stream stream) {
  if (p.rows < 0 || p.vocab < 1 || p.stride < p.vocab) throw CudaError("launchGreedyPick: invalid sizes");
  if (p.chunks < 1 || p.chunks > p.vocab) throw CudaError("launchGreedyPick: chunks must be in [1, vocab]");
  if (p.rows > 65535) throw CudaError("launchGreedyPick: at most 65535 rows");
  if (p.rows == 0) return;
  if (p.scratch == nullptr || p.out == nullptr || p.logits == nullptr) throw CudaError("launchGreedyPick: null pointer");
  auto s = static_cast<cudaStream_t>(stream);
  launchKernel(greedyChunkKernel, dim3(p.chunks, p.rows), dim3(kGreedyThreads), 0, s, p);
  launchKernel(greedyMergeKernel, dim3(p.rows), dim3(32), 0, s, p);
}

}  // namespace mamba::kernels
