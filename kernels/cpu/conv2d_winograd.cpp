#include "kernels/cpu/conv2d_winograd.h"

#include <algorithm>

#include "core/error.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/scratch.h"

namespace saliency::kernels::cpu {
namespace {

constexpr int64_t kPoints = 16;  // a 4x4 input tile, transformed

// One correlation of a [channels, height, width] source with a 3x3 kernel, zero-padded by
// (pad_h, pad_w), into a [out_channels, out_h, out_w] target, for every image of a batch.
struct Correlation3x3 {
  int64_t batch, channels, height, width, pad_h, pad_w, out_channels, out_h, out_w;
  int64_t tiles_h() const { return (out_h + 1) / 2; }
  int64_t tiles_w() const { return (out_w + 1) / 2; }
  int64_t tiles() const { return batch * tiles_h() * tiles_w(); }
};

// Rows of G w (w a 3-vector): G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
inline void filter_transform(const float w[3], float out[4]) {
  out[0] = w[0];
  out[1] = 0.5f * (w[0] + w[1] + w[2]);
  out[2] = 0.5f * (w[0] - w[1] + w[2]);
  out[3] = w[2];
}

// U[e][o][c] = (G k G^T)[e] for kernel k of (target o, source c): weight[o][c] as stored, or
// for the backward pass weight[c][o] rotated by 180 degrees.
void transform_weights(const Correlation3x3& p, const float* weight, bool rotate_and_swap,
                       float* u) {
  parallel_for(0, p.out_channels, grain_for(p.channels * 64), [&](int64_t lo, int64_t hi) {
    for (int64_t o = lo; o < hi; ++o)
      for (int64_t c = 0; c < p.channels; ++c) {
        const float* k = rotate_and_swap ? weight + (c * p.out_channels + o) * 9
                                         : weight + (o * p.channels + c) * 9;
        float rows[4][3];  // G k
        for (int x = 0; x < 3; ++x) {
          float column[3], transformed[4];
          for (int y = 0; y < 3; ++y)
            column[y] = rotate_and_swap ? k[(2 - y) * 3 + (2 - x)] : k[y * 3 + x];
          filter_transform(column, transformed);
          for (int r = 0; r < 4; ++r) rows[r][x] = transformed[r];
        }
        for (int r = 0; r < 4; ++r) {
          float transformed[4];  // (G k) G^T, row r
          filter_transform(rows[r], transformed);
          for (int q = 0; q < 4; ++q)
            u[((r * 4 + q) * p.out_channels + o) * p.channels + c] = transformed[q];
        }
      }
  });
}

// V[e][c][t] = (B^T d B)[e] for every 4x4 tile d (zero outside the source) of every channel.
// Each plane is first copied with its zero border so that a row of tiles is a branch-free loop
// over tx (stride-2 loads, unit-stride stores), which the compiler vectorizes.
void transform_input(const Correlation3x3& p, const float* source, float* v) {
  const int64_t tiles = p.tiles(), tiles_w = p.tiles_w(), per_image = p.tiles_h() * tiles_w;
  const int64_t rows = 2 * p.tiles_h() + 2, columns = 2 * tiles_w + 2;
  parallel_for(0, p.batch * p.channels, grain_for(per_image * 64), [&](int64_t lo, int64_t hi) {
    Scratch<float> padded(rows * columns);
    for (int64_t plane = lo; plane < hi; ++plane) {
      const int64_t image = plane / p.channels, c = plane % p.channels;
      const float* in = source + plane * p.height * p.width;
      for (int64_t y = 0; y < rows; ++y) {  // the source row, zero-extended
        float* row = padded.data() + y * columns;
        const int64_t source_y = y - p.pad_h;
        const int64_t copied =
            source_y >= 0 && source_y < p.height ? std::min(p.width, columns - p.pad_w) : 0;
        std::fill_n(row, p.pad_w, 0.0f);
        if (copied > 0) std::copy_n(in + source_y * p.width, copied, row + p.pad_w);
        std::fill(row + p.pad_w + copied, row + columns, 0.0f);
      }
      for (int64_t ty = 0; ty < p.tiles_h(); ++ty) {
        const float* d0 = padded.data() + 2 * ty * columns;
        const float* d1 = d0 + columns;
        const float* d2 = d1 + columns;
        const float* d3 = d2 + columns;
        float* out = v + c * tiles + image * per_image + ty * tiles_w;
        const int64_t point = p.channels * tiles;  // V[e + 1] - V[e]
#pragma GCC ivdep
        for (int64_t tx = 0; tx < tiles_w; ++tx) {
          const int64_t x = 2 * tx;
          // B^T d: the tile's rows combined, column by column.
          float r[4][4];
          for (int q = 0; q < 4; ++q) {
            r[0][q] = d0[x + q] - d2[x + q];
            r[1][q] = d1[x + q] + d2[x + q];
            r[2][q] = d2[x + q] - d1[x + q];
            r[3][q] = d1[x + q] - d3[x + q];
          }
          // (B^T d) B: each row's columns combined.
          for (int k = 0; k < 4; ++k) {
            out[(4 * k + 0) * point + tx] = r[k][0] - r[k][2];
            out[(4 * k + 1) * point + tx] = r[k][1] + r[k][2];
            out[(4 * k + 2) * point + tx] = r[k][2] - r[k][1];
            out[(4 * k + 3) * point + tx] = r[k][1] - r[k][3];
          }
        }
      }
    }
  });
}

// Each 2x2 output block y = A^T m A from its 16 products M[.][o][t]; blocks past the target's
// edge (odd sizes) are cut. A row of blocks goes through a buffer two rows of 2 * tiles_w wide.
void transform_output(const Correlation3x3& p, const float* m, float* target) {
  const int64_t tiles = p.tiles(), tiles_w = p.tiles_w(), per_image = p.tiles_h() * tiles_w;
  parallel_for(0, p.batch * p.out_channels, grain_for(per_image * 32), [&](int64_t lo, int64_t hi) {
    Scratch<float> block_rows(4 * tiles_w);
    float* top = block_rows.data();
    float* bottom = top + 2 * tiles_w;
    for (int64_t plane = lo; plane < hi; ++plane) {
      const int64_t image = plane / p.out_channels, o = plane % p.out_channels;
      float* out = target + plane * p.out_h * p.out_w;
      const int64_t point = p.out_channels * tiles;  // M[e + 1] - M[e]
      for (int64_t ty = 0; ty < p.tiles_h(); ++ty) {
        const float* in = m + o * tiles + image * per_image + ty * tiles_w;
#pragma GCC ivdep
        for (int64_t tx = 0; tx < tiles_w; ++tx) {
          float e[16];
          for (int k = 0; k < 16; ++k) e[k] = in[k * point + tx];
          // A^T m: rows 0 + 1 + 2 and 1 - 2 - 3, column by column; then the same on columns.
          float r0[4], r1[4];
          for (int q = 0; q < 4; ++q) {
            r0[q] = e[q] + e[4 + q] + e[8 + q];
            r1[q] = e[4 + q] - e[8 + q] - e[12 + q];
          }
          top[2 * tx] = r0[0] + r0[1] + r0[2];
          top[2 * tx + 1] = r0[1] - r0[2] - r0[3];
          bottom[2 * tx] = r1[0] + r1[1] + r1[2];
          bottom[2 * tx + 1] = r1[1] - r1[2] - r1[3];
        }
        std::copy_n(top, p.out_w, out + 2 * ty * p.out_w);
        if (2 * ty + 1 < p.out_h) std::copy_n(bottom, p.out_w, out + (2 * ty + 1) * p.out_w);
      }
    }
  });
}

// The weights are transformed once; then each image on its own, so that an image's result does
// not depend on the batch it came in (Eigen's GEMM rounds a column differently depending on
// where it falls in its panels; the methods' tests hold results bit-identical across batch
// sizes).
void run(const Correlation3x3& p, const float* weight, bool rotate_and_swap, const float* source,
         float* target) {
  Correlation3x3 image = p;
  image.batch = 1;
  const int64_t tiles = image.tiles();
  Scratch<float> u(kPoints * p.out_channels * p.channels), v(kPoints * p.channels * tiles),
      m(kPoints * p.out_channels * tiles);
  transform_weights(p, weight, rotate_and_swap, u.data());
  // M[e] [out x tiles] = U[e] [out x in] V[e] [in x tiles]: 16 independent single-threaded
  // GEMMs, taken by whichever thread is free.
  const GemmArgs product{.m = p.out_channels,
                         .n = tiles,
                         .k = p.channels,
                         .lda = p.channels,
                         .ldb = tiles,
                         .ldc = tiles};
  for (int64_t n = 0; n < p.batch; ++n) {
    transform_input(image, source + n * p.channels * p.height * p.width, v.data());
    parallel_tasks(kPoints, [&](int64_t e) {
      gemm(product, 1.0f, u.data() + e * p.out_channels * p.channels,
           v.data() + e * p.channels * tiles, 0.0f, m.data() + e * p.out_channels * tiles);
    });
    transform_output(image, m.data(), target + n * p.out_channels * p.out_h * p.out_w);
  }
}

}  // namespace

bool winograd_conv2d_supports(const Conv2dGeometry& g) {
  return g.kernel_h == 3 && g.kernel_w == 3 && g.stride_h == 1 && g.stride_w == 1 &&
         g.dilation_h == 1 && g.dilation_w == 1 && g.groups == 1 && g.pad_h >= 0 && g.pad_h <= 2 &&
         g.pad_w >= 0 && g.pad_w <= 2 && g.out_h() > 0 && g.out_w() > 0;
}

bool winograd_conv2d_applies(const Conv2dGeometry& g) {
  return winograd_conv2d_supports(g) && requested_conv_algorithm() == ConvAlgorithmChoice::winograd;
}

void winograd_conv2d_forward(const Conv2dGeometry& g, const float* input, const float* weight,
                             float* output) {
  SALIENCY_ASSERT(winograd_conv2d_supports(g), "winograd conv2d: unsupported geometry");
  const Correlation3x3 p{g.batch, g.in_channels,  g.in_h,    g.in_w,   g.pad_h,
                         g.pad_w, g.out_channels, g.out_h(), g.out_w()};
  run(p, weight, false, input, output);
}

void winograd_conv2d_backward_input(const Conv2dGeometry& g, const float* grad_output,
                                    const float* weight, float* grad_input) {
  SALIENCY_ASSERT(winograd_conv2d_supports(g), "winograd conv2d: unsupported geometry");
  const Correlation3x3 p{g.batch,     g.out_channels, g.out_h(), g.out_w(), 2 - g.pad_h,
                         2 - g.pad_w, g.in_channels,  g.in_h,    g.in_w};
  run(p, weight, true, grad_output, grad_input);
}

}  // namespace saliency::kernels::cpu
