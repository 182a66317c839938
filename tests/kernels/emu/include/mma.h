// CPU emulation of nvcuda::wmma (tests/kernels/emu) with the documented semantics: every lane
// holds the whole fragment (elementwise ops stay consistent), loads follow the layout
// definitions (row_major: (r, c) at p[r * ldm + c]; col_major: at p[r + c * ldm]), products
// accumulate in fp32 in k order. Shadows CUDA's <mma.h> (this directory comes first).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>
namespace nvcuda::wmma {
struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
namespace precision { struct tf32 {}; }
enum layout_t { mem_row_major, mem_col_major };

inline float __float_to_tf32(float v) {  // round to nearest (ties away), 10-bit mantissa
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7f800000u) != 0x7f800000u) { u += 0x1000u; u &= 0xffffe000u; }
  float r;
  std::memcpy(&r, &u, 4);
  return r;
}
template <typename T> struct Storage { using type = T; };
template <> struct Storage<precision::tf32> { using type = float; };

template <typename Use, int M, int N, int K, typename T, typename Layout = void>
struct fragment {
  static constexpr int rows = std::is_same_v<Use, matrix_a> ? M : std::is_same_v<Use, matrix_b> ? K : M;
  static constexpr int cols = std::is_same_v<Use, matrix_a> ? K : N;
  static constexpr int num_elements = rows * cols;
  using element_type = typename Storage<T>::type;
  element_type x[num_elements];
};

template <typename Use, int M, int N, int K, typename T, typename Layout, typename P>
void load_matrix_sync(fragment<Use, M, N, K, T, Layout>& f, const P* p, unsigned ldm) {
  using F = fragment<Use, M, N, K, T, Layout>;
  static_assert(std::is_same_v<typename F::element_type, P>, "pointer type");
  for (int r = 0; r < F::rows; ++r)
    for (int c = 0; c < F::cols; ++c)
      f.x[r * F::cols + c] = std::is_same_v<Layout, row_major> ? p[r * ldm + c] : p[r + c * ldm];
}
template <int M, int N, int K>
void fill_fragment(fragment<accumulator, M, N, K, float>& f, float v) {
  for (auto& e : f.x) e = v;
}
template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout);
template <int M, int N, int K, typename T, typename LA, typename LB>
void mma_sync(fragment<accumulator, M, N, K, float>& d, const fragment<matrix_a, M, N, K, T, LA>& a,
              const fragment<matrix_b, M, N, K, T, LB>& b, const fragment<accumulator, M, N, K, float>& c) {
  float out[M * N];
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      float acc = c.x[m * N + n];
      for (int k = 0; k < K; ++k) acc += static_cast<float>(a.x[m * K + k]) * static_cast<float>(b.x[k * N + n]);
      out[m * N + n] = acc;
    }
  std::memcpy(d.x, out, sizeof(out));
}
}  // namespace nvcuda::wmma
#include "emu_runtime.h"
namespace nvcuda::wmma {
template <int M, int N, int K>
void store_matrix_sync(float* p, const fragment<accumulator, M, N, K, float>& f, unsigned ldm, layout_t layout) {
  if (emu::linearTid() % 32 != 0) return;  // one lane writes (all hold the same values)
  for (int r = 0; r < M; ++r)
    for (int c = 0; c < N; ++c) {
      if (layout == mem_row_major) p[r * ldm + c] = f.x[r * N + c];
      else p[r + c * ldm] = f.x[r * N + c];
    }
}
}  // namespace nvcuda::wmma
