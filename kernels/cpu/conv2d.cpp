#include "kernels/cpu/conv2d.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "kernels/cpu/conv2d_implicit.h"
#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/prefetch.h"
#include "kernels/cpu/scratch.h"
#include "kernels/cpu/simd.h"

namespace saliency::kernels::cpu {
namespace {

// The output columns x whose input column x * stride + offset lies inside [0, width).
struct ValidRange {
  int64_t begin, end;
};
ValidRange valid_columns(int64_t offset, int64_t stride, int64_t width, int64_t out_w) {
  auto ceil_div = [](int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); };
  const int64_t begin = std::clamp<int64_t>(ceil_div(-offset, stride), 0, out_w);
  const int64_t end = std::clamp<int64_t>(ceil_div(width - offset, stride), begin, out_w);
  return {begin, end};
}

// Unfolds one group of one image, [Cg, H, W], into columns [Cg * kh * kw, out_h * out_w].
template <typename T>
void im2col(const Conv2dGeometry& g, const T* image, T* columns) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), plane = g.in_h * g.in_w;
  const int64_t taps = g.kernel_h * g.kernel_w;
  parallel_for(0, g.patch_size(), grain_for(out_h * out_w), [&](int64_t lo, int64_t hi) {
    for (int64_t row = lo; row < hi; ++row) {
      const int64_t channel = row / taps, ki = (row / g.kernel_w) % g.kernel_h,
                    kj = row % g.kernel_w;
      const T* source = image + channel * plane;
      T* destination = columns + row * out_h * out_w;
      const int64_t column_offset = kj * g.dilation_w - g.pad_w;
      const ValidRange valid = valid_columns(column_offset, g.stride_w, g.in_w, out_w);
      for (int64_t y = 0; y < out_h; ++y) {
        T* out_row = destination + y * out_w;
        const int64_t iy = y * g.stride_h - g.pad_h + ki * g.dilation_h;
        if (iy < 0 || iy >= g.in_h) {
          std::fill_n(out_row, out_w, T(0));
          continue;
        }
        const T* in_row = source + iy * g.in_w;
        std::fill(out_row, out_row + valid.begin, T(0));
        for (int64_t x = valid.begin; x < valid.end; ++x)
          out_row[x] = in_row[x * g.stride_w + column_offset];
        std::fill(out_row + valid.end, out_row + out_w, T(0));
      }
    }
  });
}

// out_row[x] = in_row[x * stride + offset] for x in [begin, end) (all inside the input row). A
// stride of 2 takes a vector's lanes of values at a time (simd::copy_even_elements; with AVX2 it
// had been a scalar loop: 13% of layer2's 3x3/2 forward, whose columns im2col gathers).
void unfold_run(const float* in_row, int64_t stride, int64_t offset, int64_t begin, int64_t end,
                float* out_row) {
  if (stride == 1) {
    std::copy(in_row + begin + offset, in_row + end + offset, out_row + begin);
    return;
  }
#if defined(SALIENCY_SIMD)
  if (stride == 2) {
    simd::copy_even_elements(in_row + 2 * begin + offset, end - begin, out_row + begin);
    return;
  }
#endif
  for (int64_t x = begin; x < end; ++x) out_row[x] = in_row[x * stride + offset];
}

// The im2col matrix of one image, a block at a time, for the packed product (GatheredB):
// rows [k0, k0 + depth) by columns [j0, j0 + width) into target (rows ld apart), the values
// im2col writes there.
struct UnfoldSource {
  const Conv2dGeometry* g;
  const float* input;
};
void unfold_block(const void* context, int64_t image, int64_t k0, int64_t depth, int64_t j0,
                  int64_t width, float* target, int64_t ld) {
  const auto& [geometry, input] = *static_cast<const UnfoldSource*>(context);
  const Conv2dGeometry& g = *geometry;
  const int64_t out_w = g.out_w(), plane = g.in_h * g.in_w, taps = g.kernel_h * g.kernel_w;
  const int64_t first_y = j0 / out_w, first_x = j0 % out_w, last_y = (j0 + width - 1) / out_w;
  const float* image_data = input + image * g.in_channels * plane;
  // The input rows the block reads of a channel, a contiguous band, fetched for the next channel
  // a part per tap of this one (a block's few rows of each channel are too short a run for the
  // hardware prefetchers, and its loads had waited on the last-level cache; the whole band at a
  // channel's start, a hundred lines at once, had stalled on the fill buffers).
  const int64_t band_begin = std::clamp<int64_t>(first_y * g.stride_h - g.pad_h, 0, g.in_h);
  const int64_t band_end = std::clamp<int64_t>(
      last_y * g.stride_h - g.pad_h + (g.kernel_h - 1) * g.dilation_h + 1, band_begin, g.in_h);
  const int64_t band_bytes = (band_end - band_begin) * g.in_w * int64_t(sizeof(float));
  const int64_t part_bytes = (band_bytes / taps + 63) / 64 * 64;
  const auto fetch_band_part = [&](int64_t c, int64_t part) {
    const int64_t from = part * part_bytes;
    if (c < g.in_channels && from < band_bytes)
      prefetch_run(
          reinterpret_cast<const char*>(image_data + c * plane + band_begin * g.in_w) + from,
          std::min(part_bytes, band_bytes - from));
  };
  // Row k is (channel, ki, kj), stepped rather than divided out: 7 x 7 maps' runs are 7 long.
  int64_t channel = k0 / taps, ki = (k0 / g.kernel_w) % g.kernel_h, kj = k0 % g.kernel_w;
  for (int64_t k = 0; k < depth; ++k) {
    fetch_band_part(channel + 1, ki * g.kernel_w + kj);
    const int64_t column_offset = kj * g.dilation_w - g.pad_w;
    const ValidRange valid = valid_columns(column_offset, g.stride_w, g.in_w, out_w);
    const float* source = image_data + channel * plane;
    float* out = target + k * ld - first_x;  // out[(y - first_y) * out_w + x]: position (y, x)
    int64_t iy = first_y * g.stride_h - g.pad_h + ki * g.dilation_h;
    for (int64_t x_begin = first_x, left = width; left > 0; left -= out_w - x_begin, x_begin = 0) {
      const int64_t x_end = std::min(out_w, x_begin + left);
      const int64_t begin = std::clamp(valid.begin, x_begin, x_end);
      const int64_t end = std::clamp(valid.end, begin, x_end);
      if (iy < 0 || iy >= g.in_h || end == begin) {
        std::fill(out + x_begin, out + x_end, 0.0f);
      } else {
        std::fill(out + x_begin, out + begin, 0.0f);
        unfold_run(source + iy * g.in_w, g.stride_w, column_offset, begin, end, out);
        std::fill(out + end, out + x_end, 0.0f);
      }
      out += out_w;
      iy += g.stride_h;
    }
    if (++kj == g.kernel_w) {
      kj = 0;
      if (++ki == g.kernel_h) ki = 0, ++channel;
    }
  }
}

// What a backward path does to each input-gradient value as it is written (either may be
// null; both laid out as the gradient): adds the addend, then keeps the value only where
// relu_output > 0 (bit for bit an add and relu_backward as passes of their own).
template <typename T>
struct GradientFinish {
  const T* relu_output = nullptr;
  const T* addend = nullptr;

  GradientFinish at(int64_t offset) const {
    return {relu_output == nullptr ? nullptr : relu_output + offset,
            addend == nullptr ? nullptr : addend + offset};
  }
  // Finishes `count` values of `row`, which sits at `offset` in the gradient's layout.
  void apply(int64_t offset, int64_t count, T* row) const {
    if (addend != nullptr)
      for (int64_t i = 0; i < count; ++i) row[i] = row[i] + addend[offset + i];
    if (relu_output != nullptr)
      for (int64_t i = 0; i < count; ++i) {
        const T value = row[i];  // loaded unconditionally, so the select vectorizes
        row[i] = relu_output[offset + i] > T(0) ? value : T(0);
      }
  }
};

#if defined(__AVX512F__)
// Lanes 0-7 of `values` moved to the even lanes (2i), where `lanes` allows; zero elsewhere.
inline __m512 to_even_lanes(__mmask16 lanes, __m512 values) {
  const __m512i spread = _mm512_set_epi32(7, 7, 6, 6, 5, 5, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0);
  return _mm512_maskz_permutexvar_ps(lanes, spread, values);
}
#endif

// row[x * stride] += values[x] for x < count: col2im's adds for a strided layer with few input
// channels (the stem; col2im_by_phases takes the rest of stride 2). With stride 2 eight values
// at a time are spread over the even lanes of a vector and added with a masked store: the same
// additions, in one vector instruction instead of eight scalar ones.
template <typename T>
void add_strided(const T* values, int64_t count, int64_t stride, T* row) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (stride == 2) {
      for (int64_t x = 0; x < count; x += 8) {
        const int64_t left = std::min<int64_t>(8, count - x);
        const auto lanes = static_cast<__mmask16>(0x5555 & ((1u << (2 * left)) - 1));
        const __m512 spread_values = to_even_lanes(
            lanes, _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << left) - 1), values + x));
        float* target = row + 2 * x;
        _mm512_mask_storeu_ps(target, lanes,
                              _mm512_add_ps(_mm512_maskz_loadu_ps(lanes, target), spread_values));
      }
      return;
    }
  }
#endif
  for (int64_t x = 0; x < count; ++x) row[x * stride] += values[x];
}

// col2im for stride 2 (ResNet's strided 3x3 layers and downsampling 1x1s) with channels enough
// for one task each: each tap adds its column rows into one of the plane's four phase planes
// (rows and columns of one parity), where they are contiguous runs rather than every other
// element, and the phases are then interleaved into the plane and finished. Each element
// receives the same additions in the same order (taps in order, from zero) as in col2im below,
// so the result is the same to the bit. bench_conv2d, 3 interleaved rounds (median ms, banded ->
// phases): the 3x3/2 layers' backward at batch 8 7.26 -> 5.12 (layer2), 5.71 -> 4.82 (layer3),
// 5.77 -> 5.06 (layer4), at batch 1 0.89 -> 0.63 (layer2); col2im's share of layer2's from 20% to
// 12%. IG-16 at batch 16 (Winograd) 1.4% faster.
template <typename T>
void col2im_by_phases(const Conv2dGeometry& g, const T* columns, GradientFinish<T> finish,
                      T* image) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), plane = g.in_h * g.in_w;
  const int64_t half_h = (g.in_h + 1) / 2, half_w = (g.in_w + 1) / 2, phase = half_h * half_w;
  const auto parity = [](int64_t v) { return v & 1; };  // of a negative offset too
  parallel_for(0, g.in_channels_per_group(), 1, [&](int64_t first, int64_t last) {
    Scratch<T> phases(4 * phase);
    for (int64_t channel = first; channel < last; ++channel) {
      std::fill_n(phases.data(), 4 * phase, T(0));
      for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
        const int64_t row_offset = ki * g.dilation_h - g.pad_h, py = parity(row_offset);
        const ValidRange rows = valid_columns(row_offset, 2, g.in_h, out_h);
        for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
          const int64_t column_offset = kj * g.dilation_w - g.pad_w, px = parity(column_offset);
          const ValidRange valid = valid_columns(column_offset, 2, g.in_w, out_w);
          const T* source =
              columns + ((channel * g.kernel_h + ki) * g.kernel_w + kj) * out_h * out_w;
          // Output (y, x) lands at phase row y + (row_offset - py) / 2, column x + (...) / 2.
          const int64_t at = (py * 2 + px) * phase + (row_offset - py) / 2 * half_w +
                             (column_offset - px) / 2 + valid.begin;
          const int64_t count = valid.end - valid.begin;
          for (int64_t y = rows.begin; y < rows.end; ++y) {
            const T* values = source + y * out_w + valid.begin;
            T* run = phases.data() + (at + y * half_w);
            for (int64_t x = 0; x < count; ++x) run[x] += values[x];
          }
        }
      }
      T* out = image + channel * plane;
      for (int64_t iy = 0; iy < g.in_h; ++iy) {
        const T* even = phases.data() + (parity(iy) * 2) * phase + iy / 2 * half_w;
        const T* odd = even + phase;
        T* row = out + iy * g.in_w;
        const int64_t pairs = g.in_w / 2;
        for (int64_t j = 0; j < pairs; ++j) {
          row[2 * j] = even[j];
          row[2 * j + 1] = odd[j];
        }
        if (g.in_w % 2 != 0) row[g.in_w - 1] = even[pairs];
      }
      finish.apply(channel * plane, plane, out);
    }
  });
}

// col2im for a 1x1 layer of stride 2 without padding (ResNet's downsampling) with channels
// enough for one task each: every input position receives at most one value, so an even row
// spreads its output row over the even positions with zeros between and an odd row is zero, one
// pass writing the plane and the finish while it is cached (the phase planes took three: zero,
// add, interleave). Values are 0 + column, as the sums of col2im start from zero (-0 becomes +0),
// so the bits are col2im's.
template <typename T>
void spread_pointwise_stride_two(const Conv2dGeometry& g, const T* columns,
                                 GradientFinish<T> finish, T* image) {
  const int64_t out_w = g.out_w(), plane = g.in_h * g.in_w;
  parallel_for(0, g.in_channels_per_group(), 1, [&](int64_t first, int64_t last) {
    for (int64_t channel = first; channel < last; ++channel) {
      T* out = image + channel * plane;
      const T* source = columns + channel * g.out_h() * out_w;
      for (int64_t iy = 0; iy < g.in_h; ++iy) {
        T* row = out + iy * g.in_w;
        if (iy % 2 != 0) {
          std::fill_n(row, g.in_w, T(0));
          continue;
        }
        const T* values = source + iy / 2 * out_w;
        int64_t x = 0;
#if defined(__AVX512F__)
        if constexpr (std::is_same_v<T, float>) {
          for (; x + 8 <= out_w && 2 * x + 16 <= g.in_w; x += 8) {
            const __m512 even = to_even_lanes(0x5555, _mm512_maskz_loadu_ps(0x00FF, values + x));
            _mm512_storeu_ps(row + 2 * x, _mm512_add_ps(even, _mm512_setzero_ps()));
          }
        }
#endif
        for (; x < out_w; ++x) {
          row[2 * x] = T(0) + values[x];
          if (2 * x + 1 < g.in_w) row[2 * x + 1] = T(0);
        }
      }
      finish.apply(channel * plane, plane, out);
    }
  });
}

// col2im for unit stride as a gather: each input row is summed in registers from the column
// values that read it, taps in order from zero as col2im adds them (the same bits), and stored
// once with its finish; rows are shared out over the threads. col2im's adds, tap after tap into
// the same image rows, each waited on the store of the tap before: a 7 x 7 map's rows are 7
// floats, and 19% of layer4's 3x3 backward at batch 8 went to them. (Stride 2 keeps its phase
// planes: a gather there spreads each tap's values over every other lane, and ResNet's 3x3/2
// and 1x1/2 backward ran 5-30% slower with it.)
template <typename T>
void col2im_unit_stride(const Conv2dGeometry& g, const T* columns, GradientFinish<T> finish,
                        T* image) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), out_plane = out_h * out_w;
  const int64_t taps = g.kernel_h * g.kernel_w;
  // Input row iy of a channel, from the channel's column rows `source` (taps, then positions).
  auto gather_row = [&](const T* source, int64_t iy, T* row) {
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>) {
      for (int64_t x0 = 0; x0 < g.in_w; x0 += 16) {
        const int64_t lanes = std::min<int64_t>(16, g.in_w - x0);
        __m512 sum = _mm512_setzero_ps();
        for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
          const int64_t y = iy + g.pad_h - ki * g.dilation_h;
          if (y < 0 || y >= out_h) continue;
          const float* tap_row = source + ki * g.kernel_w * out_plane + y * out_w + x0;
          for (int64_t kj = 0; kj < g.kernel_w; ++kj, tap_row += out_plane) {
            // lane l (input column x0 + l) reads output column x0 + l + shift, if in [0, out_w)
            const int64_t shift = g.pad_w - kj * g.dilation_w;
            const int64_t first = std::clamp<int64_t>(-shift - x0, 0, lanes);
            const int64_t last = std::clamp<int64_t>(out_w - shift - x0, first, lanes);
            const auto valid = static_cast<__mmask16>(((1u << last) - 1) & ~((1u << first) - 1));
            sum =
                _mm512_mask_add_ps(sum, valid, sum, _mm512_maskz_loadu_ps(valid, tap_row + shift));
          }
        }
        _mm512_mask_storeu_ps(row + x0, static_cast<__mmask16>((1u << lanes) - 1), sum);
      }
      return;
    }
#endif
    std::fill_n(row, g.in_w, T(0));
    for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
      const int64_t y = iy + g.pad_h - ki * g.dilation_h;
      if (y < 0 || y >= out_h) continue;
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        const T* tap_row = source + (ki * g.kernel_w + kj) * out_plane + y * out_w;
        const int64_t shift = g.pad_w - kj * g.dilation_w;
        for (int64_t x = std::max<int64_t>(0, -shift); x < std::min(g.in_w, out_w - shift); ++x)
          row[x] += tap_row[x + shift];
      }
    }
  };
  const int64_t rows = g.in_channels_per_group() * g.in_h;
  parallel_for(0, rows, grain_for(g.in_w * taps), [&](int64_t first, int64_t last) {
    for (int64_t channel = first / g.in_h, iy = first % g.in_h, r = first; r < last; ++r) {
      T* row = image + r * g.in_w;
      gather_row(columns + channel * taps * out_plane, iy, row);
      finish.apply(r * g.in_w, g.in_w, row);
      if (++iy == g.in_h) iy = 0, ++channel;
    }
  });
}

// The adjoint of im2col: adds the columns into the image planes they were read from, then
// applies the finish. Layers of stride 1 or 2 with 16 or more input channels take the paths
// above; the rest take these adds, which those are tested against bit for bit (the same sums in
// the same order). Tasks own disjoint bands of input rows of one channel (a layer with few input
// channels, like the 3-channel stem, is cut into row bands so that both cores work); a task
// zeroes its band, adds tap after tap (each tap's column rows are read front to back), then
// finishes the band while it is still in cache: no pass to zero the image before, none after.
// Within a band the taps and output rows are visited in the same order whatever the banding, so
// sums are bit-identical.
template <typename T>
void col2im(const Conv2dGeometry& g, const T* columns, GradientFinish<T> finish, T* image) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), plane = g.in_h * g.in_w;
  const int64_t channels = g.in_channels_per_group();
  constexpr int64_t kMinTasks = 16;
  if (channels >= kMinTasks && g.stride_h == 1 && g.stride_w == 1) {
    col2im_unit_stride(g, columns, finish, image);
    return;
  }
  if (channels >= kMinTasks && g.stride_h == 2 && g.stride_w == 2) {
    if (g.kernel_h == 1 && g.kernel_w == 1 && g.pad_h == 0 && g.pad_w == 0)
      spread_pointwise_stride_two(g, columns, finish, image);
    else
      col2im_by_phases(g, columns, finish, image);
    return;
  }
  const int64_t bands = std::clamp<int64_t>((kMinTasks + channels - 1) / channels, 1, g.in_h);
  auto write_band = [&](int64_t task) {
    const int64_t channel = task / bands, band = task % bands;
    const int64_t row_begin = g.in_h * band / bands, row_end = g.in_h * (band + 1) / bands;
    const int64_t band_offset = channel * plane + row_begin * g.in_w;
    const int64_t band_size = (row_end - row_begin) * g.in_w;
    T* target = image + channel * plane;
    std::fill_n(image + band_offset, band_size, T(0));
    for (int64_t ki = 0; ki < g.kernel_h; ++ki) {
      for (int64_t kj = 0; kj < g.kernel_w; ++kj) {
        const int64_t row = (channel * g.kernel_h + ki) * g.kernel_w + kj;
        const T* source = columns + row * out_h * out_w;
        const int64_t column_offset = kj * g.dilation_w - g.pad_w;
        const ValidRange valid = valid_columns(column_offset, g.stride_w, g.in_w, out_w);
        for (int64_t y = 0; y < out_h; ++y) {
          const int64_t iy = y * g.stride_h - g.pad_h + ki * g.dilation_h;
          if (iy < row_begin || iy >= row_end) continue;
          add_strided(source + y * out_w + valid.begin, valid.end - valid.begin, g.stride_w,
                      target + iy * g.in_w + valid.begin * g.stride_w + column_offset);
        }
      }
    }
    finish.apply(band_offset, band_size, image + band_offset);
  };
  if (g.patch_size() * out_h * out_w < (1 << 15)) {  // too small to wake a second thread
    for (int64_t task = 0; task < channels * bands; ++task) write_band(task);
    return;
  }
  parallel_tasks(channels * bands, write_band);
}

// Offsets of one (image, group) block in the input, output and weight buffers.
struct GroupBlock {
  int64_t input, output, weight;
};
GroupBlock block_offsets(const Conv2dGeometry& g, int64_t image, int64_t group) {
  const int64_t in_plane = g.in_h * g.in_w, out_plane = g.out_h() * g.out_w();
  return {(image * g.in_channels + group * g.in_channels_per_group()) * in_plane,
          (image * g.out_channels + group * g.out_channels_per_group()) * out_plane,
          group * g.out_channels_per_group() * g.patch_size()};
}

// Calls fn(offsets, image, columns) for every (image, group) block, with columns = the block's
// im2col matrix [patch, out_plane]; a pointwise convolution's input already is that matrix.
template <typename T, typename Fn>
void for_each_unfolded_block(const Conv2dGeometry& g, const T* input, Fn fn) {
  const bool pointwise = g.is_pointwise();
  Scratch<T> columns(pointwise ? 0 : g.patch_size() * g.out_h() * g.out_w());
  for (int64_t image = 0; image < g.batch; ++image) {
    for (int64_t group = 0; group < g.groups; ++group) {
      const GroupBlock at = block_offsets(g, image, group);
      if (pointwise) {
        fn(at, image, input + at.input);
      } else {
        im2col(g, input + at.input, columns.data());
        fn(at, image, static_cast<const T*>(columns.data()));
      }
    }
  }
}

// The bias, the residual (when given) and the activation as one pass over the output.
template <typename T>
void finish_output(const Conv2dGeometry& g, const T* bias, const T* residual,
                   ConvActivation activation, T* output) {
  if (bias == nullptr && residual == nullptr && activation == ConvActivation::none) return;
  const int64_t out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.batch * g.out_channels, grain_for(out_plane), [&](int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; ++p) {
      T* plane = output + p * out_plane;
      if (bias != nullptr) {
        const T b = bias[p % g.out_channels];
        for (int64_t i = 0; i < out_plane; ++i) plane[i] += b;
      }
      if (residual != nullptr)
        for (int64_t i = 0; i < out_plane; ++i) plane[i] = plane[i] + residual[p * out_plane + i];
      if (activation == ConvActivation::relu)
        for (int64_t i = 0; i < out_plane; ++i) plane[i] = plane[i] > T(0) ? plane[i] : T(0);
    }
  });
}

// The backward's product with the weight's transpose, W^T [patch, out] for one group: read from
// the transposed copy as a plain matrix when there is one, else from the weight as a transposed
// one (which the packed GEMM packs on every call).
GemmArgs backward_product(const Conv2dGeometry& g, bool transposed_copy) {
  return {.transpose_a = !transposed_copy,
          .m = g.patch_size(),
          .n = g.out_h() * g.out_w(),
          .k = g.out_channels_per_group(),
          .lda = transposed_copy ? g.out_channels_per_group() : g.patch_size(),
          .ldb = g.out_h() * g.out_w(),
          .ldc = g.out_h() * g.out_w()};
}

// A pointwise convolution without groups is one batched product whose columns are the images'
// positions: forward, C_i [out, plane] = W [out, in] X_i [in, plane]; backward to the input,
// C_i [in, plane] = W^T G_i [out, plane] (`weight` then W, or its transposed copy when
// `transposed_copy`). The epilogue (bias and ReLU forward, a ReLU's backward) is applied as C is
// stored.
template <typename T>
void pointwise_conv2d(const Conv2dGeometry& g, bool backward, bool transposed_copy, const T* weight,
                      const T* source, RowEpilogue<T> epilogue, T* target) {
  const int64_t plane = g.out_h() * g.out_w();
  const GemmArgs product = backward ? backward_product(g, transposed_copy)
                                    : GemmArgs{.m = g.out_channels,
                                               .n = plane,
                                               .k = g.in_channels,
                                               .lda = g.in_channels,
                                               .ldb = plane,
                                               .ldc = plane};
  parallel_gemm_batched<T>(product, {g.batch, product.k * plane, product.m * plane}, T(1), weight,
                           source, T(0), target, epilogue);
}

// Without groups, several images' im2col columns meet the weights in one batched product: the
// weights (a strided layer's are up to 9 MB) are then read, or packed transposed, once per group
// of images rather than once per image. Groups hold as many images' columns as fit 16 MB, half
// the last-level cache, so that the columns are still cached when col2im (or the product,
// forward) reads them back. A 4 MB budget had measured 5-20% faster at batch 8 (the stem, then on
// im2col, 9.3 -> 7.6 ms, layer4's 3x3 9.2 -> 7.5 ms) while eight 7 x 7 maps split into product
// blocks of 7 and 1 images; since those take one block (gemm_packed.cpp) and the stem its own
// path, 16 MB runs ResNet-50's im2col layers at batch 8 2-7% faster (bench_conv2d, 4 rounds
// alternating, min ms, 4 -> 16 MB): layer2's 3x3/2 backward 5.34 -> 5.06, layer3's 4.97 ->
// 4.79, layer4's 4.84 -> 4.59 (forward 4.93 -> 4.72), layer4's 3x3 backward 4.73 -> 4.39
// (forward 4.75 -> 4.64); layer2's and layer3's 3x3/2 forward the same. (Layer3's 3x3/2
// backward was slower in two of three such comparisons, 5.04 -> 5.21 in one.)
template <typename T>
int64_t images_per_columns_group(const Conv2dGeometry& g) {
  constexpr int64_t kColumnsBudget = int64_t(16) << 20;  // bytes
  const int64_t per_image = g.patch_size() * g.out_h() * g.out_w();
  return std::clamp<int64_t>(kColumnsBudget / int64_t(sizeof(T) * per_image), 1, g.batch);
}

// The forward without groups: im2col, then one batched product per group of images, which adds
// the bias and residual and applies the activation as it stores (no pass of their own).
template <typename T>
void im2col_forward_by_image_groups(const Conv2dGeometry& g, const GemmArgs& product,
                                    const T* input, const T* weight, RowEpilogue<T> epilogue,
                                    T* output) {
  const int64_t out_plane = g.out_h() * g.out_w(), per_image = g.patch_size() * out_plane;
  const int64_t in_image = g.in_channels * g.in_h * g.in_w;
  const int64_t out_image = g.out_channels * out_plane;
  // The im2col matrix gathered a block and k slice at a time as the product packs B, into caches,
  // rather than written to memory and read back: bench_conv2d, forward, medians of 3 in 4
  // interleaved rounds (ms; the host mostly in a slow stretch), at batch 8 layer2's 3x3/2
  // 5.96-6.17 -> 5.01-5.32, layer3's 5.27-6.01 -> 4.67-4.79, at batch 1 0.785 -> 0.63-0.80 and
  // 0.83-0.89 -> 0.60-0.70. Maps of at most 64 positions (7 x 7) keep im2col: a batch's images are
  // packed end to end there (gemm_packed.cpp), and gathering them measured 4-6% slower at batch 8.
  constexpr int64_t kSmallMap = 64;
  if constexpr (std::is_same_v<T, float>) {
    if (packed_gemm_applies(product) && out_plane > kSmallMap) {
      const UnfoldSource source{&g, input};
      packed_gemm_gathered(product, {g.batch, 0, out_image}, weight, {&unfold_block, &source},
                           output, /*parallel=*/true, epilogue);
      return;
    }
  }
  const int64_t group = images_per_columns_group<T>(g);
  Scratch<T> columns(group * per_image);
  for (int64_t first = 0; first < g.batch; first += group) {
    const int64_t images = std::min(group, g.batch - first);
    for (int64_t i = 0; i < images; ++i)
      im2col(g, input + (first + i) * in_image, columns.data() + i * per_image);
    RowEpilogue<T> at = epilogue;
    if (at.addend != nullptr) at.addend += first * out_image;
    parallel_gemm_batched<T>(product, {images, per_image, out_image}, T(1), weight, columns.data(),
                             T(0), output + first * out_image, at);
  }
}

// The backward to the input without groups: one batched product per group of images into their
// columns, then col2im, which writes each image and applies the finish.
template <typename T>
void im2col_backward_input_by_image_groups(const Conv2dGeometry& g, const GemmArgs& product,
                                           const T* grad_output, const T* weight,
                                           GradientFinish<T> finish, T* grad_input) {
  const int64_t out_plane = g.out_h() * g.out_w(), per_image = g.patch_size() * out_plane;
  const int64_t in_image = g.in_channels * g.in_h * g.in_w;
  const int64_t group = images_per_columns_group<T>(g);
  Scratch<T> columns(group * per_image);
  for (int64_t first = 0; first < g.batch; first += group) {
    const int64_t images = std::min(group, g.batch - first);
    parallel_gemm_batched(product, {images, g.out_channels * out_plane, per_image}, T(1), weight,
                          grad_output + first * g.out_channels * out_plane, T(0), columns.data());
    for (int64_t i = 0; i < images; ++i)
      col2im(g, columns.data() + i * per_image, finish.at((first + i) * in_image),
             grad_input + (first + i) * in_image);
  }
}

}  // namespace

namespace {

std::atomic<ConvAlgorithmChoice>& conv_algorithm() {
  static std::atomic<ConvAlgorithmChoice> choice = [] {
    const char* name = std::getenv("SALIENCY_CONV");
    const std::string_view value = name == nullptr ? "" : name;
    if (value == "im2col") return ConvAlgorithmChoice::im2col;
    if (value == "winograd") return ConvAlgorithmChoice::winograd;
    return ConvAlgorithmChoice::direct;
  }();
  return choice;
}

thread_local bool exact_convolutions = false;

}  // namespace

ConvAlgorithmChoice requested_conv_algorithm() {
  return conv_algorithm().load(std::memory_order_relaxed);
}

void set_conv_algorithm(ConvAlgorithmChoice choice) {
  conv_algorithm().store(choice, std::memory_order_relaxed);
}

bool exact_convolutions_required() {
  return exact_convolutions;
}

void set_exact_convolutions_required(bool required) {
  exact_convolutions = required;
}

namespace {

// The im2col + GEMM forward with its epilogue: fused into the product without groups, a pass of
// its own with them.
template <typename T>
void im2col_forward(const Conv2dGeometry& g, const T* input, const T* weight, const T* bias,
                    ConvActivation activation, const T* residual, T* output) {
  const int64_t out_plane = g.out_h() * g.out_w(), patch = g.patch_size();
  // output_g [Cout_g, out_plane] = W_g [Cout_g, patch] * columns [patch, out_plane]
  const GemmArgs product{.m = g.out_channels_per_group(),
                         .n = out_plane,
                         .k = patch,
                         .lda = patch,
                         .ldb = out_plane,
                         .ldc = out_plane};
  const RowEpilogue<T> epilogue{
      .bias = bias, .relu = activation == ConvActivation::relu, .addend = residual};
  if (g.groups == 1) {
    if (g.is_pointwise())
      pointwise_conv2d<T>(g, /*backward=*/false, /*transposed_copy=*/false, weight, input, epilogue,
                          output);
    else
      im2col_forward_by_image_groups(g, product, input, weight, epilogue, output);
    return;
  }
  for_each_unfolded_block(g, input, [&](const GroupBlock& at, int64_t, const T* columns) {
    parallel_gemm(product, T(1), weight + at.weight, columns, T(0), output + at.output);
  });
  finish_output(g, bias, residual, activation, output);
}

// The finish over the whole input gradient, as a pass of its own.
template <typename T>
void finish_input_gradient(const Conv2dGeometry& g, GradientFinish<T> finish, T* grad_input) {
  if (finish.relu_output == nullptr && finish.addend == nullptr) return;
  const int64_t count = g.batch * g.in_channels * g.in_h * g.in_w;
  parallel_for(0, count, grain_for(1),
               [&](int64_t lo, int64_t hi) { finish.apply(lo, hi - lo, grad_input + lo); });
}

// The im2col + GEMM backward to the input with its finish: fused into the product's store
// (pointwise) or into col2im without groups; with groups col2im finishes each block, and a
// grouped pointwise layer, written by its products directly, takes passes of its own. Without
// groups a transposed copy of the weight, when given, is read in place of the weight.
template <typename T>
void im2col_backward_input(const Conv2dGeometry& g, const T* grad_output, const T* weight,
                           GradientFinish<T> finish, T* grad_input,
                           const T* transposed_weight = nullptr) {
  const bool pointwise = g.is_pointwise();
  const int64_t out_plane = g.out_h() * g.out_w(), patch = g.patch_size();
  if (g.groups == 1) {
    const bool copy = transposed_weight != nullptr;
    const T* a = copy ? transposed_weight : weight;
    if (pointwise)
      pointwise_conv2d<T>(g, /*backward=*/true, copy, a, grad_output,
                          {.relu_mask = finish.relu_output, .addend = finish.addend}, grad_input);
    else
      im2col_backward_input_by_image_groups(g, backward_product(g, copy), grad_output, a, finish,
                                            grad_input);
    return;
  }
  // columns[patch, out_plane] = W_g^T [patch, Cout_g] * grad_output_g [Cout_g, out_plane]
  const GemmArgs product = backward_product(g, /*transposed_copy=*/false);
  Scratch<T> columns(pointwise ? 0 : patch * out_plane);
  for (int64_t image = 0; image < g.batch; ++image) {
    for (int64_t group = 0; group < g.groups; ++group) {
      const GroupBlock at = block_offsets(g, image, group);
      T* target = pointwise ? grad_input + at.input : columns.data();
      parallel_gemm(product, T(1), weight + at.weight, grad_output + at.output, T(0), target);
      if (!pointwise) col2im(g, columns.data(), finish.at(at.input), grad_input + at.input);
    }
  }
  if (pointwise) finish_input_gradient(g, finish, grad_input);
}

}  // namespace

template <typename T>
void im2col_conv2d_forward(const Conv2dGeometry& g, const T* input, const T* weight, T* output) {
  im2col_forward<T>(g, input, weight, nullptr, ConvActivation::none, nullptr, output);
}

template <typename T>
void im2col_conv2d_backward_input(const Conv2dGeometry& g, const T* grad_output, const T* weight,
                                  T* grad_input) {
  im2col_backward_input<T>(g, grad_output, weight, {}, grad_input);
}

// The bias and activation cost no pass of their own on the implicit, pointwise and (without
// groups) im2col paths: they are applied as the product is stored.
template <typename T>
void conv2d_forward(const Conv2dGeometry& g, const T* input, const T* weight, const T* bias,
                    T* output, ConvActivation activation, const T* residual,
                    ConvWeightCopy<T> weight_copy) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_conv2d_applies(g)) {
      winograd_conv2d_forward(
          g, input, weight, output,
          {.bias = bias, .relu = activation == ConvActivation::relu, .addend = residual});
      return;
    }
    const bool packed = weight_copy.layout == ConvWeightLayout::position_rows &&
                        conv2d_weight_layout<T>(g, ConvPass::forward) == weight_copy.layout;
    if (packed || implicit_conv2d_applies(g)) {
      // The kernels store bias and ReLU themselves; a residual comes between them, so then the
      // residual and the ReLU follow in a pass of their own.
      const bool relu = residual == nullptr && activation == ConvActivation::relu;
      if (packed)
        position_rows_conv2d_forward(g, input, weight_copy.data, bias, output, relu);
      else
        implicit_conv2d_forward(g, input, weight, bias, output, relu);
      if (residual != nullptr) finish_output<T>(g, nullptr, residual, activation, output);
      return;
    }
  }
  im2col_forward(g, input, weight, bias, activation, residual, output);
}

template <typename T>
void conv2d_backward_input(const Conv2dGeometry& g, const T* grad_output, const T* weight,
                           T* grad_input, const T* relu_output, const T* addend,
                           ConvWeightCopy<T> weight_copy) {
  const ConvWeightLayout wanted = conv2d_weight_layout<T>(g, ConvPass::backward_input);
  const T* copy = weight_copy.layout == wanted ? weight_copy.data : nullptr;
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_conv2d_applies(g)) {
      winograd_conv2d_backward_input(g, grad_output, weight, grad_input,
                                     {.relu_mask = relu_output, .addend = addend});
      return;
    }
    if (copy != nullptr && wanted == ConvWeightLayout::position_rows) {
      position_rows_conv2d_backward_input(g, grad_output, copy, grad_input, relu_output, addend);
      return;
    }
    if (implicit_conv2d_applies(g)) {
      implicit_conv2d_backward_input(g, grad_output, weight, grad_input, relu_output, addend);
      return;
    }
  }
  im2col_backward_input<T>(g, grad_output, weight, {relu_output, addend}, grad_input,
                           wanted == ConvWeightLayout::transposed ? copy : nullptr);
}

template <typename T>
ConvWeightLayout conv2d_weight_layout(const Conv2dGeometry& g, ConvPass pass) {
  if constexpr (std::is_same_v<T, float>) {
    if (winograd_conv2d_applies(g)) return ConvWeightLayout::none;
    if (position_rows_conv2d_applies(g, pass)) return ConvWeightLayout::position_rows;
    if (implicit_conv2d_applies(g)) return ConvWeightLayout::none;
  }
  return pass == ConvPass::backward_input && g.groups == 1 ? ConvWeightLayout::transposed
                                                           : ConvWeightLayout::none;
}

template <typename T>
int64_t conv2d_weight_copy_size(const Conv2dGeometry& g, ConvPass pass) {
  switch (conv2d_weight_layout<T>(g, pass)) {
    case ConvWeightLayout::position_rows:
      return position_rows_weight_size(g, pass);
    case ConvWeightLayout::transposed:
      return g.patch_size() * g.out_channels;
    case ConvWeightLayout::none:
      break;
  }
  return 0;
}

template <typename T>
void make_conv2d_weight_copy(const Conv2dGeometry& g, ConvPass pass, const T* weight, T* copy) {
  const ConvWeightLayout layout = conv2d_weight_layout<T>(g, pass);
  if constexpr (std::is_same_v<T, float>)
    if (layout == ConvWeightLayout::position_rows)
      return pack_position_rows_weight(g, pass, weight, copy);
  if (layout == ConvWeightLayout::transposed) transpose_conv_weight(g, weight, copy);
}

namespace {

#if defined(SALIENCY_SIMD)
// target[j * target_ld + i] = source[i * source_ld + j] for an 8 x 8 block of floats, in
// registers: each source row is one load, each target row one store.
void transpose_8x8(const float* source, int64_t source_ld, float* target, int64_t target_ld) {
  __m256 rows[8];
  for (int i = 0; i < 8; ++i) rows[i] = _mm256_loadu_ps(source + i * source_ld);
  simd::transpose_8x8(rows);
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(target + j * target_ld, rows[j]);
}
#endif

}  // namespace

// Blocks of 16 target rows: each 8-row step of the source reads one whole line of each row and
// writes half a line of each of the block's 16 target rows, so few lines are open at a time. A
// weight's rows are often a multiple of 4 KB apart (512 or 2048 floats), all in the same L1 set:
// a scalar 32 x 32 tiling took 2.0 ms for layer4's downsampling weights (8 MB; 1.2 ms with 8 x 8
// tiles and 64-row blocks, 0.47 with 16-row blocks), about 16 ms for ResNet-50's first recorded
// pass (now about 3).
template <typename T>
void transpose_conv_weight(const Conv2dGeometry& g, const T* weight, T* transposed) {
  const int64_t rows = g.out_channels, columns = g.patch_size();
  constexpr int64_t kBlock = 16, kTile = 8;
  parallel_for(0, (columns + kBlock - 1) / kBlock, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t j0 = lo * kBlock; j0 < std::min(columns, hi * kBlock); j0 += kBlock) {
      const int64_t j_end = std::min(columns, j0 + kBlock);
      for (int64_t i = 0; i < rows; i += kTile) {
        int64_t j = j0;
#if defined(SALIENCY_SIMD)
        if constexpr (std::is_same_v<T, float>)
          if (i + kTile <= rows)
            for (; j + kTile <= j_end; j += kTile)
              transpose_8x8(weight + i * columns + j, columns, transposed + j * rows + i, rows);
#endif
        for (; j < j_end; ++j)
          for (int64_t r = i; r < std::min(rows, i + kTile); ++r)
            transposed[j * rows + r] = weight[r * columns + j];
      }
    }
  });
}

template <typename T>
void conv2d_backward_weight(const Conv2dGeometry& g, const T* grad_output, const T* input,
                            T* grad_weight) {
  const int64_t out_plane = g.out_h() * g.out_w(), patch = g.patch_size();
  // dW_g [Cout_g, patch] += grad_output_g [Cout_g, out_plane] * columns^T [out_plane, patch]
  const GemmArgs product{.transpose_b = true,
                         .m = g.out_channels_per_group(),
                         .n = patch,
                         .k = out_plane,
                         .lda = out_plane,
                         .ldb = out_plane,
                         .ldc = patch};
  for_each_unfolded_block(g, input, [&](const GroupBlock& at, int64_t image, const T* columns) {
    parallel_gemm(product, T(1), grad_output + at.output, columns, image == 0 ? T(0) : T(1),
                  grad_weight + at.weight);
  });
}

template <typename T>
void conv2d_backward_bias(const Conv2dGeometry& g, const T* grad_output, T* grad_bias) {
  const int64_t out_plane = g.out_h() * g.out_w();
  parallel_for(0, g.out_channels, grain_for(g.batch * out_plane), [&](int64_t lo, int64_t hi) {
    for (int64_t channel = lo; channel < hi; ++channel) {
      T total = 0;
      for (int64_t image = 0; image < g.batch; ++image) {
        const T* plane = grad_output + (image * g.out_channels + channel) * out_plane;
        for (int64_t i = 0; i < out_plane; ++i) total += plane[i];
      }
      grad_bias[channel] = total;
    }
  });
}

#define SALIENCY_INSTANTIATE_CONV2D(T)                                                            \
  template void im2col_conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, T*);          \
  template void im2col_conv2d_backward_input<T>(const Conv2dGeometry&, const T*, const T*, T*);   \
  template void conv2d_forward<T>(const Conv2dGeometry&, const T*, const T*, const T*, T*,        \
                                  ConvActivation, const T*, ConvWeightCopy<T>);                   \
  template void conv2d_backward_input<T>(const Conv2dGeometry&, const T*, const T*, T*, const T*, \
                                         const T*, ConvWeightCopy<T>);                            \
  template ConvWeightLayout conv2d_weight_layout<T>(const Conv2dGeometry&, ConvPass);             \
  template int64_t conv2d_weight_copy_size<T>(const Conv2dGeometry&, ConvPass);                   \
  template void make_conv2d_weight_copy<T>(const Conv2dGeometry&, ConvPass, const T*, T*);        \
  template void transpose_conv_weight<T>(const Conv2dGeometry&, const T*, T*);                    \
  template void conv2d_backward_weight<T>(const Conv2dGeometry&, const T*, const T*, T*);         \
  template void conv2d_backward_bias<T>(const Conv2dGeometry&, const T*, T*);
SALIENCY_INSTANTIATE_CONV2D(float)
SALIENCY_INSTANTIATE_CONV2D(double)

}  // namespace saliency::kernels::cpu
