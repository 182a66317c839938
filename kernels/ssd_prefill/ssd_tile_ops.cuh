// Block-tile building blocks of the SSD kernels (ssd_prefill.cuh, ssd_single_tile.cuh): a
// 64x64 tile product by 4 warps (a 32x32 quarter each, 2x2 WMMA fragments of 16x16) from
// operand tiles staged in shared memory, with the trimmed form for small N (see the notes at
// the top of ssd_prefill.cuh), and the two-phase, software-pipelined tile loader.
#pragma once

#include <mma.h>

#include <type_traits>

#include "kernels/common/dispatch.cuh"

namespace mamba::kernels {
namespace ssd {

namespace wmma = nvcuda::wmma;

constexpr int kThreads = 128;               // 4 warps per 64x64 block tile
constexpr int kTile = 64;
constexpr int kKStep = 64;                  // inner-dimension slice per stage (sLoc, CB, C.S_in)
constexpr int kPad = 8;                     // elements of row padding in shared tiles
constexpr int kLdWide = kTile + kPad;       // leading dimension of 64-wide tiles
constexpr int kLdNarrow = kKStep + kPad;    // leading dimension of kKStep-wide tiles

// Operand type -> WMMA shape. float runs as 3xTF32 (k = 8), fp16/bf16 natively (k = 16).
template <typename T> struct Mma {
  static constexpr int kK = 16;
  using Prec = T;
  static constexpr bool kSplit = false;
};
template <> struct Mma<float> {
  static constexpr int kK = 8;
  using Prec = wmma::precision::tf32;
  static constexpr bool kSplit = true;
};
template <typename T> using AccFrag = wmma::fragment<wmma::accumulator, 16, 16, Mma<T>::kK, float>;

// Address of logical element (row, col) of a tile stored with the given layout.
template <typename Layout, typename T>
__device__ __forceinline__ const T* at(const T* base, int ld, int row, int col) {
  if constexpr (std::is_same_v<Layout, wmma::row_major>) {
    return base + row * ld + col;
  } else {
    return base + col * ld + row;
  }
}

// hi <- tf32(v), lo <- tf32(v - hi), elementwise (the same mapping in both fragments).
template <typename Frag>
__device__ __forceinline__ void splitTf32(Frag& hi, Frag& lo) {
#pragma unroll
  for (int e = 0; e < hi.num_elements; ++e) {
    const float v = hi.x[e];
    const float h = wmma::__float_to_tf32(v);
    hi.x[e] = h;
    lo.x[e] = wmma::__float_to_tf32(v - h);
  }
}

// acc[i][j] += A[r0+16i .. +16, 0 .. kLen) * B[0 .. kLen, c0+16j .. +16) for i < nI, j < nJ,
// where A (M x K) and B (K x N) are shared tiles with the given layouts and leading dimensions;
// the other fragments are left alone. The inner steps cover [0, kLen rounded up to kK): past kLen
// both operands must be zero in the fragments used (a product of zeros adds nothing). kFull:
// the whole 2x2 quarter over the constant depth kMaxLen (the original code path, fully known to
// the compiler); otherwise kLen, nI, nJ are run time values (uniform across the warp).
template <typename T, typename LayoutA, typename LayoutB, int kMaxLen, bool kFull>
__device__ __forceinline__ void warpMmaSteps(AccFrag<T> (&acc)[2][2], const T* As, int lda, const T* Bs, int ldb,
                                             int kLen, int r0, int c0, int nI, int nJ) {
  using M = Mma<T>;
  using FragA = wmma::fragment<wmma::matrix_a, 16, 16, M::kK, typename M::Prec, LayoutA>;
  using FragB = wmma::fragment<wmma::matrix_b, 16, 16, M::kK, typename M::Prec, LayoutB>;
  auto step = [&](int k) {
    FragA a[2];
    FragB bm[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      if (kFull || i < nI) wmma::load_matrix_sync(a[i], at<LayoutA>(As, lda, r0 + 16 * i, k), lda);
    }
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      if (kFull || j < nJ) wmma::load_matrix_sync(bm[j], at<LayoutB>(Bs, ldb, k, c0 + 16 * j), ldb);
    }
    if constexpr (M::kSplit) {
      FragA aLo[2];
      FragB bLo[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        if (kFull || i < nI) splitTf32(a[i], aLo[i]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        if (kFull || j < nJ) splitTf32(bm[j], bLo[j]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          if (!kFull && (i >= nI || j >= nJ)) continue;
          wmma::mma_sync(acc[i][j], aLo[i], bm[j], acc[i][j]);
          wmma::mma_sync(acc[i][j], a[i], bLo[j], acc[i][j]);
          wmma::mma_sync(acc[i][j], a[i], bm[j], acc[i][j]);
        }
      }
    } else {
#pragma unroll
      for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          if (kFull || (i < nI && j < nJ)) wmma::mma_sync(acc[i][j], a[i], bm[j], acc[i][j]);
        }
      }
    }
  };
  if constexpr (kFull) {
    for (int k = 0; k < kMaxLen; k += M::kK) step(k);
  } else {
    // fp32 (3xTF32) runs the original kernels only: its trimmed scan spilled ~600 bytes.
    static_assert(!M::kSplit, "the trimmed products are for fp16/bf16 operands");
    // Unrolled to the largest depth: faster than a loop (H200, N = 12: 2.69 vs 2.83 ms per
    // 8 x 16384 SSD call; a run time trip count left to the compiler spilled registers).
#pragma unroll
    for (int k = 0; k < kMaxLen; k += M::kK) {
      if (k >= kLen) break;
      step(k);
    }
  }
}

// The warp's quarter of a block tile product. !kTrim: the full 2x2 fragments over kMaxLen (the
// original code). kTrim: only the real work: inner depth kLen (<= kMaxLen; both operands are
// zero from kLen on), rowsLeft/colsLeft real output rows/columns from (r0, c0) (fragments wholly
// past them are skipped: their accumulators stay as they are and the caller never stores them).
// A product of exact zeros leaves an fp32 accumulator bit-identical (x + 0 = x; the accumulators
// start at +0, so no -0 arises), so every stored result is the same as with the full
// 64x64xkMaxLen product. fp16/bf16 only (3xTF32 would hold too: tf32(0) = 0 in both halves).
template <typename T, typename LayoutA, typename LayoutB, int kMaxLen, bool kTrim>
__device__ __forceinline__ void warpMma(AccFrag<T> (&acc)[2][2], const T* As, int lda, const T* Bs, int ldb,
                                        int kLen, int r0, int c0, int rowsLeft, int colsLeft) {
  if constexpr (!kTrim) {
    warpMmaSteps<T, LayoutA, LayoutB, kMaxLen, true>(acc, As, lda, Bs, ldb, kMaxLen, r0, c0, 2, 2);
  } else if (kLen >= kMaxLen && rowsLeft > 16 && colsLeft > 16) {
    warpMmaSteps<T, LayoutA, LayoutB, kMaxLen, true>(acc, As, lda, Bs, ldb, kMaxLen, r0, c0, 2, 2);
  } else if (kLen > 0 && rowsLeft > 0 && colsLeft > 0) {
    warpMmaSteps<T, LayoutA, LayoutB, kMaxLen, false>(acc, As, lda, Bs, ldb, min(kLen, kMaxLen), r0, c0,
                                                      rowsLeft > 16 ? 2 : 1, colsLeft > 16 ? 2 : 1);
  }
}

template <typename T>
__device__ __forceinline__ void zeroAcc(AccFrag<T> (&acc)[2][2]) {
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);
  }
}

// Ys[r][c] (fp32, leading dimension kLdWide) <- the warp's quarter of the block tile.
template <typename T>
__device__ __forceinline__ void storeAcc(const AccFrag<T> (&acc)[2][2], float* Ys, int r0, int c0) {
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(Ys + (r0 + 16 * i) * kLdWide + c0 + 16 * j, acc[i][j], kLdWide, wmma::mem_row_major);
    }
  }
}

// Which operands may be moved as 16-byte vectors (decided by the launcher from the shapes and
// pointer alignment): xbc-derived tiles (x, B, C, S_in), the fp32 CB tiles, and state-pool
// tiles (read by the single-tile kernel).
struct VecFlags {
  bool xbc = false, cb = false, pool = false;
};

constexpr int log2Exact(int v) { return v <= 1 ? 0 : 1 + log2Exact(v / 2); }

// Moves an R x W tile of S (row-major, leading dimension ld) into a shared tile of T in two
// phases, so that the next tile's global loads can be issued before the current tile's MMAs:
// load() starts the reads (16-byte vectors into registers in vector mode) and store() writes
// T(f(r, c, v)) for the real elements (r < rows, c < cols) and 0 elsewhere. f sees only real
// elements and may zero more. Vector mode needs src 16-byte aligned, ld a multiple of the
// vector width, and each real row readable up to the next multiple of the vector width past
// cols (a pitch); otherwise store() reads element by element.
// kNarrow: only the first 2^stagedLog2(cols) columns (16, 32 or W) are loaded and written, with
// the threads spread over them; columns past that keep whatever the shared tile held, so the
// consumer must read only columns < cols rounded up to 16 (the trimmed products skip the rest).
template <int R, int W, typename S, bool kNarrow = false>
class TileLoader {
 public:
  static constexpr int kVec = 16 / static_cast<int>(sizeof(S));
  static constexpr int kPerRow = W / kVec;
  static constexpr int kPerThread = R * kPerRow / kThreads;
  static constexpr int kLogW = log2Exact(W), kLogVec = log2Exact(kVec);
  static_assert(W % kVec == 0 && (R * kPerRow) % kThreads == 0, "tile must split into whole vectors per thread");
  static_assert(!kNarrow || ((1 << kLogW) == W && W >= 16 && (R * 16 / kVec) % kThreads == 0),
                "a narrow tile must split into whole vectors per thread at every staged width");

  // log2 of the columns staged for `cols` real ones: 16, 32, ... up to W (the smallest power
  // of two >= cols, at least 16, which is a multiple of the MMA k of every operand type).
  __device__ static int stagedLog2(int cols) {
    if constexpr (!kNarrow) {
      return kLogW;
    } else {
      return min(kLogW, 32 - __clz(max(cols, 16) - 1));
    }
  }

  __device__ explicit TileLoader(bool vec) : vec_(vec) {}

  __device__ __forceinline__ void load(const S* src, int64_t ld, int rows, int cols) {
    src_ = src;
    ld_ = ld;
    rows_ = rows;
    cols_ = cols;
    if constexpr (kNarrow) lw_ = stagedLog2(cols);
    if (!vec_) return;
    if (!kNarrow || lw_ == kLogW) {
      loadVectors<true>();
    } else {
      loadVectors<false>();
    }
  }

  template <typename T, typename F>
  __device__ __forceinline__ void store(T* dst, int ldd, F f) const {
    if (vec_) {
      if (!kNarrow || lw_ == kLogW) {
        storeVectors<true>(dst, ldd, f);
      } else {
        storeVectors<false>(dst, ldd, f);
      }
    } else {
      const int lw = kNarrow ? lw_ : kLogW;
      for (int i = threadIdx.x; i < (R << lw); i += kThreads) {
        const int r = i >> lw, c = i & ((1 << lw) - 1);
        const bool real = r < rows_ && c < cols_;
        dst[r * ldd + c] = fromFloat<T>(real ? f(r, c, toFloat(src_[r * ld_ + c])) : 0.f);
      }
    }
  }

 private:
  // Vector v of the thread's i-th: v = threadIdx.x + i * kThreads over the staged R x 2^lw
  // columns, row-major (at full width the original mapping: whole rows of consecutive vectors).
  template <bool kFullWidth>
  __device__ __forceinline__ int vectorShift() const {
    return kFullWidth ? kLogW - kLogVec : lw_ - kLogVec;
  }

  template <bool kFullWidth>
  __device__ __forceinline__ void loadVectors() {
    const int lv = vectorShift<kFullWidth>(), count = kFullWidth ? kPerThread : (R << lv) / kThreads;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      if (i >= count) break;
      const int v = threadIdx.x + i * kThreads, r = v >> lv, c = (v & ((1 << lv) - 1)) * kVec;
      raw_[i] = r < rows_ && c < cols_ ? __ldg(reinterpret_cast<const uint4*>(src_ + r * ld_ + c))
                                       : make_uint4(0, 0, 0, 0);
    }
  }

  template <bool kFullWidth, typename T, typename F>
  __device__ __forceinline__ void storeVectors(T* dst, int ldd, F f) const {
    const int lv = vectorShift<kFullWidth>(), count = kFullWidth ? kPerThread : (R << lv) / kThreads;
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      if (i >= count) break;
      const int v = threadIdx.x + i * kThreads, r = v >> lv, c = (v & ((1 << lv) - 1)) * kVec;
      const S* e = reinterpret_cast<const S*>(&raw_[i]);
      const bool realRow = r < rows_;
      Pack<T, kVec> out;
#pragma unroll
      for (int j = 0; j < kVec; ++j) {
        out.v[j] = fromFloat<T>(realRow && c + j < cols_ ? f(r, c + j, toFloat(e[j])) : 0.f);
      }
      *reinterpret_cast<Pack<T, kVec>*>(dst + r * ldd + c) = out;
    }
  }

  uint4 raw_[kPerThread];
  const S* src_ = nullptr;
  int64_t ld_ = 0;
  int rows_ = 0, cols_ = 0;
  int lw_ = kLogW;  // log2 of the staged width (kNarrow)
  bool vec_;
};

struct Identity {
  __device__ __forceinline__ float operator()(int, int, float v) const { return v; }
};

}  // namespace ssd
}  // namespace mamba::kernels
