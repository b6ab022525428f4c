#pragma once
// Float GEMM of our own on AVX-512 or AVX2 (simd.h), in the BLIS manner: the micro-kernel streams
// B from L2 in panels 48 columns wide (16 with AVX2) and broadcasts A from L1. A transposed B, or a
// plain one whose rows are a multiple of 1 KB apart, is copied ("packed") into contiguous panels
// first; other plain B (a convolution's planes) is read in place, which measured faster than
// packing it.
//
// Blocking (the numbers are in gemm_packed.cpp): k runs in slices of kDepth; for each slice a
// task takes its block of B (kDepth x up to kBlockColumns), packed or in place, then, for every
// tile of rows of A (8 with AVX-512, 6 with AVX2), takes those rows' slice (8 KB, stays in L1:
// read in place from a plain A, packed once per product from a transposed one unless a single
// panel reads it) and runs the 8 x 48 (6 x 16) micro-kernel across the block's panels. A C element
// is summed over k in the same order whichever task or thread computes it, so results do not depend
// on the thread count. Batched products (one A, many images' B and C) pack several small images'
// columns into one block, so that A is read once per block rather than once per image; images of
// 16-64 columns (7 x 7 maps) are packed end to end, panels straddling them. An image's last 1-4
// columns past its full panels (a single 7 x 7 map's 49th) are dot products instead of a panel of
// mostly empty lanes: their k order differs from the panels', so such a column of a single image
// may differ in the last bits from the same image's column in a straddled batch.
//
// Eigen's GEMM (gemm.cpp) stays the reference this one is tested against (tests/ops/test_gemm.cpp)
// and serves double, builds with neither AVX-512 nor AVX2, products with fewer rows than a tile
// (a GEMV: the linear layer at batch 1), and SALIENCY_GEMM=eigen (side-by-side benchmarks).
#include "kernels/cpu/gemm.h"

namespace saliency::kernels::cpu {

// The micro-kernel's tile: rows of A and columns of a panel of B (8 x 48 with AVX-512, 6 x 16
// with AVX2; 0 x 0 in a build with neither). Tests size their edge cases from it.
struct PackedGemmTile {
  int rows = 0;
  int64_t panel_columns = 0;
};
PackedGemmTile packed_gemm_tile();

// Whether gemm<float> / parallel_gemm<float> take the packed path for this product.
bool packed_gemm_applies(const GemmArgs& args);

// C_i = alpha op(A) op(B_i) + beta C_i, then the epilogue (applied as the last k slice is
// stored), for every image i of the batch (C is not read when beta is 0). k must be positive.
// With `parallel` the blocks of C are shared out over the thread pool.
void packed_gemm(const GemmArgs& args, const BatchedColumns& batch, float alpha, const float* a,
                 const float* b, float beta, float* c, bool parallel,
                 RowEpilogue<float> epilogue = {});

// A plain B made by a function as the product needs it rather than read from memory: fill(context,
// image, k0, depth, j0, width, target, ld) writes B_image(k0 + k, j0 + t) to target[k * ld + t]
// for k < depth, t < width. A convolution's im2col matrix, unfolded a block and k slice at a time
// into cache-sized buffers instead of into memory and back (conv2d.cpp).
struct GatheredB {
  void (*fill)(const void* context, int64_t image, int64_t k0, int64_t depth, int64_t j0,
               int64_t width, float* target, int64_t ld);
  const void* context;
};

// C_i = A B_i, then the epilogue, for every image i of the batch (b_stride unused), B_i
// gathered: the same sums, in the same order, as packed_gemm over B_i written out.
void packed_gemm_gathered(const GemmArgs& args, const BatchedColumns& batch, const float* a,
                          const GatheredB& b, float* c, bool parallel,
                          RowEpilogue<float> epilogue = {});

}  // namespace saliency::kernels::cpu
