#pragma once
// A convolution as implicit GEMMs, planned for the CPU's AVX-512 path (conv2d_implicit.cpp;
// the CUDA kernels, which once executed these plans too, now run im2col + cuBLAS): which planes
// to build from the source, the tap tables that address A (the weights, in place) and B (the
// planes), and where each GEMM's result goes. The executor only follows plans, so the index
// arithmetic below is tested through it against im2col.
//
// Phase planes: a strided correlation reads tap (ky, kx) at sh * y + ky, sw * x + kx. Split the
// zero-padded source by stride phase, plane (a, b) holding positions (sh * y + a, sw * x + b),
// and tap (ky, kx) becomes the contiguous run of plane (ky % sh, kx % sw) shifted by
// (ky / sh) * columns + kx / sw. Backward-to-input splits the input gradient the same way: its
// phase (a, b) receives the taps ky = a + sh * m, kx = b + sw * n from output positions
// (y - m, x - n), a stride-1 correlation of the padded output gradient with those taps flipped.
// All phases read the same planes.
//
// With stride 1 (both ways) there is one plane, the zero-padded image, and its rows share their
// zero columns: a tap reads at most pad columns past either end of a row, and past the right end
// it lands in the next row's left padding, so a row is width + pad long rather than width + 2 *
// pad (one row of zeros more at the bottom takes the last row's overrun). Each row's positions
// past the output's width are computed and thrown away: ResNet's 3x3 layers then compute one
// column per row in vain instead of two forward and three backward (the gradient's plane had
// been padded as for every phase of a strided layer, kernel - 1 a side). Backward-to-input of
// such a layer is the forward correlation of the output gradient padded by kernel - 1 - pad.
#include <cstdint>
#include <vector>

#include "kernels/cpu/conv2d.h"

namespace saliency::kernels::cpu {

// Plane (a, b) of channel c holds source[c][sh * y + a - top][sw * x + b - left] at (y, x),
// zero outside the source; every plane is rows x columns, a channel's planes are consecutive.
struct PhasePlanes {
  int64_t channels, height, width, top, left, stride_h, stride_w, rows, columns;
  int64_t plane() const { return rows * columns; }
  int64_t channel() const { return stride_h * stride_w * plane(); }
  // Offset of position (dy, dx) of plane (a, b) within a channel's planes.
  int64_t offset(int64_t a, int64_t b, int64_t dy, int64_t dx) const {
    return (a * stride_w + b) * plane() + dy * columns + dx;
  }
};

// Where a GEMM's rows x columns block of positions goes in each [channels, height, width]
// target image: position (r, q) -> (row0 + r * row_step, column0 + q * column_step).
struct Placement {
  int64_t height, width, rows, columns, row0, row_step, column0, column_step;
};

// One GEMM per image: C[target_channels x flat()] = A B with k over (source channel o, tap t):
//   A(i, o, t) = weight[i * a_row + o * a_outer + a_tap[t]]
//   B(o, t, j) = planes[o * planes.channel() + first + b_tap[t] + j]
// C's row i holds at.rows runs of planes.columns flat positions (the last at.columns long);
// position (r, q) is placed by `at`. No taps (an input phase no kernel tap reaches): the
// placed positions are zero.
struct Correlation {
  PhasePlanes planes;
  Placement at;
  int64_t target_channels, first, a_row, a_outer;
  std::vector<int64_t> a_tap, b_tap;
  int64_t flat() const { return (at.rows - 1) * planes.columns + at.columns; }
};

// The output [out_channels, out_h, out_w] from the input: one correlation.
Correlation forward_correlation(const Conv2dGeometry& g);
// The input gradient [in_channels, in_h, in_w] from the output gradient: one correlation per
// stride phase of the input (one for stride 1), all with the same `planes`.
std::vector<Correlation> backward_input_correlations(const Conv2dGeometry& g);

}  // namespace saliency::kernels::cpu
