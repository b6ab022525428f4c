// conv2d: gradients of input, weight and bias against finite differences, and the fast
// im2col + GEMM forward/backward against a direct loop convolution.
#include <gtest/gtest.h>

#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <string>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "conv_reference.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/conv2d_implicit.h"
#include "kernels/cpu/conv2d_winograd.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/parallel.h"
#include "nn/layers.h"

namespace saliency {
namespace {

using testing::gradcheck;
using testing::random64;

struct ConvCase {
  const char* name;
  Shape input, weight;
  Conv2dOptions options;
};

const ConvCase kCases[] = {
    {"3x3_pad1", {1, 3, 6, 6}, {4, 3, 3, 3}, {.padding = 1}},
    {"3x3_stride2_nonsquare", {2, 3, 7, 5}, {4, 3, 3, 3}, {.stride = 2, .padding = 1}},
    {"stride_pad_per_axis", {1, 2, 8, 6}, {3, 2, 3, 2}, {.stride = {2, 1}, .padding = {1, 0}}},
    {"dilation2", {1, 2, 9, 8}, {3, 2, 3, 3}, {.padding = 2, .dilation = 2}},
    {"groups2", {2, 4, 5, 5}, {6, 2, 3, 3}, {.padding = 1, .groups = 2}},
    {"pointwise", {2, 5, 4, 3}, {3, 5, 1, 1}, {}},
    {"pointwise_stride2", {1, 4, 7, 7}, {6, 4, 1, 1}, {.stride = 2}},
    {"7x7_stride2_pad3", {1, 3, 11, 10}, {2, 3, 7, 7}, {.stride = 2, .padding = 3}},
};

// Names the case in test output instead of dumping its bytes.
void PrintTo(const ConvCase& c, std::ostream* out) {
  *out << c.name;
}

class Conv2dGradients : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Conv2dGradients, InputWeightAndBiasMatchFiniteDifferences) {
  const ConvCase& c = GetParam();
  const Conv2dOptions options = c.options;
  const Tensor bias = random64({c.weight[0]}, 3);
  EXPECT_TRUE(
      gradcheck([&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], options); },
                {random64(c.input, 1), random64(c.weight, 2), bias}));
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dGradients, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<ConvCase>& param_info) {
                           return std::string(param_info.param.name);
                         });

// A direct six-loop convolution in float64: the independent reference for the fast path.
Tensor naive_conv2d(const Tensor& x, const Tensor& w, const Conv2dOptions& o) {
  const int64_t n = x.size(0), cin = x.size(1), h = x.size(2), wd = x.size(3);
  const int64_t cout = w.size(0), kh = w.size(2), kw = w.size(3), cg = cin / o.groups;
  const int64_t oh = (h + 2 * o.padding.h - o.dilation.h * (kh - 1) - 1) / o.stride.h + 1;
  const int64_t ow = (wd + 2 * o.padding.w - o.dilation.w * (kw - 1) - 1) / o.stride.w + 1;
  Tensor out = zeros({n, cout, oh, ow}, DType::Float64);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t co = 0; co < cout; ++co) {
      const int64_t group = co / (cout / o.groups);
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xx = 0; xx < ow; ++xx) {
          double total = 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < kh; ++i)
              for (int64_t j = 0; j < kw; ++j) {
                const int64_t iy = y * o.stride.h - o.padding.h + i * o.dilation.h;
                const int64_t ix = xx * o.stride.w - o.padding.w + j * o.dilation.w;
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                total += x.at({b, group * cg + ci, iy, ix}) * w.at({co, ci, i, j});
              }
          out.set({b, co, y, xx}, total);
        }
    }
  return out;
}

TEST(Conv2dForward, FastPathMatchesDirectLoopsInFloat32) {
  for (const ConvCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const Tensor x = random64(c.input, 11), w = random64(c.weight, 12);
    const Tensor expected = naive_conv2d(x, w, c.options);
    const Tensor fast = conv2d(x.to(DType::Float32), w.to(DType::Float32), {}, c.options);
    // float32 sums of at most 150 products of values in [-1, 1): error well below 1e-5.
    EXPECT_LT(testing::max_abs_difference(fast.to(DType::Float64), expected), 1e-5);
  }
}

// Channel counts and sizes large enough that GEMMs split across threads and im2col runs in
// parallel chunks; backward-to-input checked as the adjoint of forward: <conv(x), g> == <x,
// conv^T(g)>.
TEST(Conv2dForward, LargeLayerMatchesDirectLoopsAndAdjoint) {
  const Conv2dOptions options{.stride = 2, .padding = 1};
  const Tensor x = random64({2, 32, 19, 17}, 21), w = random64({48, 32, 3, 3}, 22);
  const Tensor fast = conv2d(x.to(DType::Float32), w.to(DType::Float32), {}, options);
  EXPECT_LT(testing::max_abs_difference(fast.to(DType::Float64), naive_conv2d(x, w, options)),
            1e-4);  // 288-term float32 dot products of unit values

  Tensor leaf = x.clone().set_requires_grad(true);
  const Tensor out = conv2d(leaf, w, {}, options);
  const Tensor g = random64(out.shape(), 23);
  autograd::backward(out, g);
  const double lhs = sum(mul(out.detach(), g)).item();
  const double rhs = sum(mul(x, leaf.grad())).item();
  EXPECT_NEAR(lhs, rhs, 1e-9 * std::abs(lhs));
}

// conv2d_relu and add_relu (a residual block's ops) give relu(conv2d) and relu(add) exactly,
// fused on the CPU, and record the graph of the plain ops (a ReLU node over a conv / add node)
// when something requires grad, with the same gradient.
TEST(Conv2dRelu, FusedUnderInferenceAndRecordedUnderGradModeWithTheSameValues) {
  Generator gen(10);
  const Tensor x = randn({2, 16, 9, 9}, gen), w = randn({24, 16, 3, 3}, gen), b = randn({24}, gen),
               shortcut = randn({2, 24, 9, 9}, gen);
  const Conv2dOptions same{.padding = 1};
  const Tensor expected = relu(add(relu(conv2d(x, w, b, same)), shortcut));
  {
    autograd::NoGradGuard inference;
    const Tensor fused = add_relu(conv2d_relu(x, w, b, same), shortcut);
    EXPECT_EQ(fused.grad_fn(), nullptr);
    EXPECT_EQ(fused.to_vector(), expected.to_vector());
  }
  Tensor leaf = x.clone().set_requires_grad(true);
  const Tensor recorded = add_relu(conv2d_relu(leaf, w, b, same), shortcut);
  // The graph the plain ops record: ReLU <- add <- (ReLU <- conv2d, shortcut).
  ASSERT_NE(recorded.grad_fn(), nullptr);
  EXPECT_EQ(recorded.grad_fn()->kind(), autograd::OpKind::Relu);
  const auto& sum = recorded.grad_fn()->inputs().at(0).node;
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->kind(), autograd::OpKind::Add);
  const auto& inner_relu = sum->inputs().at(0).node;
  ASSERT_NE(inner_relu, nullptr);
  EXPECT_EQ(inner_relu->kind(), autograd::OpKind::Relu);
  ASSERT_NE(inner_relu->inputs().at(0).node, nullptr);
  EXPECT_EQ(inner_relu->inputs().at(0).node->kind(), autograd::OpKind::Conv2d);
  EXPECT_EQ(recorded.to_vector(), expected.to_vector());
  autograd::backward(recorded, ones(recorded.shape()));
  Tensor reference_leaf = x.clone().set_requires_grad(true);
  autograd::backward(relu(add(relu(conv2d(reference_leaf, w, b, same)), shortcut)),
                     ones(recorded.shape()));
  EXPECT_EQ(leaf.grad().to_vector(), reference_leaf.grad().to_vector());
  EXPECT_GT(testing::max_abs_difference(leaf.grad(), zeros(x.shape())), 0.0);
}

// conv2d_add_relu (a bottleneck's last conv with its shortcut) gives relu(add(conv2d, residual))
// exactly, fused on the CPU, and records the plain ops' ReLU <- add <- (conv2d, residual), with
// the same gradients for the input and the residual.
TEST(Conv2dRelu, ResidualFusedWithTheSameValuesAndGradients) {
  Generator gen(11);
  const Tensor x = randn({2, 12, 7, 7}, gen), w = randn({20, 12, 1, 1}, gen), b = randn({20}, gen),
               shortcut = randn({2, 20, 7, 7}, gen);
  const Tensor expected = relu(add(conv2d(x, w, b), shortcut));
  {
    autograd::NoGradGuard inference;
    EXPECT_EQ(conv2d_add_relu(x, w, b, {}, shortcut).to_vector(), expected.to_vector());
  }
  Tensor leaf = x.clone().set_requires_grad(true),
         residual = shortcut.clone().set_requires_grad(true);
  const Tensor recorded = conv2d_add_relu(leaf, w, b, {}, residual);
  EXPECT_EQ(recorded.to_vector(), expected.to_vector());
  ASSERT_NE(recorded.grad_fn(), nullptr);
  EXPECT_EQ(recorded.grad_fn()->kind(), autograd::OpKind::Relu);
  const auto& sum = recorded.grad_fn()->inputs().at(0).node;
  ASSERT_NE(sum, nullptr);
  EXPECT_EQ(sum->kind(), autograd::OpKind::Add);
  ASSERT_NE(sum->inputs().at(0).node, nullptr);
  EXPECT_EQ(sum->inputs().at(0).node->kind(), autograd::OpKind::Conv2d);
  autograd::backward(recorded, ones(recorded.shape()));
  Tensor reference_leaf = x.clone().set_requires_grad(true),
         reference_residual = shortcut.clone().set_requires_grad(true);
  autograd::backward(relu(add(conv2d(reference_leaf, w, b), reference_residual)),
                     ones(recorded.shape()));
  EXPECT_EQ(leaf.grad().to_vector(), reference_leaf.grad().to_vector());
  EXPECT_EQ(residual.grad().to_vector(), reference_residual.grad().to_vector());
  EXPECT_GT(testing::max_abs_difference(residual.grad(), zeros(shortcut.shape())), 0.0);
}

// Large enough that the GEMMs are cut into parts: one thread and two give the same bits.
TEST(Conv2dForward, BitIdenticalOnOneAndTwoThreads) {
  Generator gen(9);
  const Tensor x = randn({1, 64, 28, 28}, gen), w = randn({128, 64, 3, 3}, gen);
  std::vector<double> outputs[2], gradients[2];
  const int previous = kernels::cpu::num_threads();
  for (int threads : {1, 2}) {
    kernels::cpu::set_num_threads(threads);
    Tensor leaf = x.clone().set_requires_grad(true);
    const Tensor y = conv2d(leaf, w, {}, {.padding = 1});
    autograd::backward(y, ones(y.shape()));
    outputs[threads - 1] = y.to_vector();
    gradients[threads - 1] = leaf.grad().to_vector();
  }
  kernels::cpu::set_num_threads(previous);
  EXPECT_EQ(outputs[0], outputs[1]);
  EXPECT_EQ(gradients[0], gradients[1]);
}

// With 16 or more input channels, col2im gathers each input row in registers (stride 1), or
// adds through phase planes or the pointwise spread (stride 2); with fewer it adds the columns
// tap by tap in row bands. The same layer with one input channel fewer takes the banded adds,
// and its input gradient's channels are the same sums (same columns, same order of additions),
// so they must agree bit for bit, finish (addend and ReLU mask) included. Odd sizes, paddings, a
// dilation and rows of 16 and more (the 33 x 35 cases: more than one vector) reach the edges. The
// im2col path is chosen so that unit-stride layers come here rather than to the implicit GEMM. The
// columns of both come from the same rows of the packed GEMM (Eigen's, in builds without AVX-512,
// sums a 15-channel product's rows in another order than a 16-channel one's, so the comparison
// needs it).
TEST(Conv2dBackward, Col2imByGatherEqualsTheBandedPathBitForBit) {
  if (!kernels::cpu::packed_gemm_applies({.transpose_a = true, .m = 8, .n = 16, .k = 8}))
    GTEST_SKIP() << "the packed GEMM is not in use";
  const testing::ConvAlgorithmScope im2col(kernels::cpu::ConvAlgorithmChoice::im2col);
  struct Case {
    int64_t size, kernel, stride, pad, dilation;
  };
  for (const Case& c : {Case{13, 3, 2, 1, 1},
                        {14, 3, 2, 1, 1},
                        {13, 1, 2, 0, 1},
                        {12, 3, 2, 0, 1},
                        {33, 1, 2, 0, 1},
                        {33, 3, 2, 1, 1},
                        {7, 3, 1, 1, 1},
                        {13, 3, 1, 0, 1},
                        {33, 3, 1, 1, 1},
                        {12, 3, 1, 2, 2},
                        {15, 3, 2, 2, 2},
                        {9, 5, 1, 2, 1}}) {
    const int64_t size = c.size, kernel = c.kernel, pad = c.pad, stride = c.stride;
    kernels::cpu::Conv2dGeometry wide{.batch = 2,
                                      .in_channels = 16,
                                      .in_h = size,
                                      .in_w = size + 2,
                                      .out_channels = 24,
                                      .kernel_h = kernel,
                                      .kernel_w = kernel,
                                      .stride_h = stride,
                                      .stride_w = stride,
                                      .pad_h = pad,
                                      .pad_w = pad,
                                      .dilation_h = c.dilation,
                                      .dilation_w = c.dilation};
    kernels::cpu::Conv2dGeometry narrow_layer = wide;
    narrow_layer.in_channels = 15;
    const int64_t plane = wide.in_h * wide.in_w, taps = kernel * kernel;
    const int64_t out_count = wide.batch * wide.out_channels * wide.out_h() * wide.out_w();
    using testing::random_floats;
    const auto grad_output = random_floats(out_count, 61);
    const auto weight = random_floats(wide.out_channels * 16 * taps, 62);
    const auto relu_output = random_floats(wide.batch * 16 * plane, 63);
    const auto addend = random_floats(wide.batch * 16 * plane, 64);
    // The narrow layer's weights, mask and addend: the wide ones without input channel 15.
    std::vector<float> weight15, relu15, addend15;
    for (int64_t o = 0; o < wide.out_channels; ++o)
      weight15.insert(weight15.end(), weight.begin() + o * 16 * taps,
                      weight.begin() + (o * 16 + 15) * taps);
    for (int64_t n = 0; n < wide.batch; ++n) {
      relu15.insert(relu15.end(), relu_output.begin() + n * 16 * plane,
                    relu_output.begin() + (n * 16 + 15) * plane);
      addend15.insert(addend15.end(), addend.begin() + n * 16 * plane,
                      addend.begin() + (n * 16 + 15) * plane);
    }
    std::vector<float> fast_paths(wide.batch * 16 * plane), banded(wide.batch * 15 * plane);
    kernels::cpu::conv2d_backward_input<float>(wide, grad_output.data(), weight.data(),
                                               fast_paths.data(), relu_output.data(),
                                               addend.data());
    kernels::cpu::conv2d_backward_input<float>(narrow_layer, grad_output.data(), weight15.data(),
                                               banded.data(), relu15.data(), addend15.data());
    int64_t nonzero = 0;
    for (int64_t n = 0; n < wide.batch; ++n)
      for (int64_t i = 0; i < 15 * plane; ++i) {
        const float got = fast_paths[n * 16 * plane + i], want = banded[n * 15 * plane + i];
        ASSERT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want))
            << "size " << size << " kernel " << kernel << " stride " << stride << " pad " << pad
            << " dilation " << c.dilation << " image " << n << " element " << i;
        nonzero += want != 0.0f;
      }
    EXPECT_GT(nonzero, wide.batch * 15 * plane / 4);  // the mask leaves about half
  }
}

// The backward to the input reading a transposed copy of the weight (a plain product, the copy
// in place) against reading the weight (a transposed product, packed): the same sums, bit for
// bit, with the ReLU mask and addend applied as stored; except a product's tail columns (1-4 past
// its 48-column panels: a single 7 x 7 map's 49th), summed along k in an order that follows the
// operand's orientation, which agree within float32 rounding. Gradients are poisoned with NaN
// first, so an element left unwritten fails.
TEST(Conv2dBackward, TransposedWeightCopyGivesTheWeightsGradient) {
  struct Case {
    const char* name;
    int64_t batch, channels, size, kernel, stride, pad;
    bool tail;  // a product with tail columns: agreement within rounding, not bit for bit
  };
  for (const Case& c : {Case{"1x1_8x6", 2, 24, 8, 1, 1, 0, false},
                        {"1x1_7x7_batch2", 2, 24, 7, 1, 1, 0, false},
                        {"1x1_7x7_batch1", 1, 24, 7, 1, 1, 0, true},
                        {"1x1_stride2", 2, 16, 13, 1, 2, 0, false},
                        {"3x3_stride2", 2, 16, 14, 3, 2, 1, false},
                        {"3x3_stride1_7x7", 2, 16, 7, 3, 1, 1, false}}) {
    const kernels::cpu::Conv2dGeometry g{.batch = c.batch,
                                         .in_channels = c.channels,
                                         .in_h = c.size,
                                         .in_w = c.size,
                                         .out_channels = 40,
                                         .kernel_h = c.kernel,
                                         .kernel_w = c.kernel,
                                         .stride_h = c.stride,
                                         .stride_w = c.stride,
                                         .pad_h = c.pad,
                                         .pad_w = c.pad};
    ASSERT_EQ(kernels::cpu::conv2d_weight_layout<float>(g, kernels::cpu::ConvPass::backward_input),
              kernels::cpu::ConvWeightLayout::transposed)
        << c.name;
    const int64_t in_count = g.batch * g.in_channels * g.in_h * g.in_w;
    const auto grad_output =
        testing::random_floats(g.batch * g.out_channels * g.out_h() * g.out_w(), 71);
    const auto weight = testing::random_floats(g.out_channels * g.patch_size(), 72);
    const auto relu_output = testing::random_floats(in_count, 73),
               addend = testing::random_floats(in_count, 74);
    std::vector<float> transposed(weight.size());
    kernels::cpu::transpose_conv_weight(g, weight.data(), transposed.data());
    for (int64_t o = 0; o < g.out_channels; ++o)
      for (int64_t j = 0; j < g.patch_size(); ++j)
        ASSERT_EQ(transposed[j * g.out_channels + o], weight[o * g.patch_size() + j]);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> packed(in_count, nan), copied(in_count, nan);
    kernels::cpu::conv2d_backward_input<float>(g, grad_output.data(), weight.data(), packed.data(),
                                               relu_output.data(), addend.data());
    kernels::cpu::conv2d_backward_input<float>(
        g, grad_output.data(), weight.data(), copied.data(), relu_output.data(), addend.data(),
        {kernels::cpu::ConvWeightLayout::transposed, transposed.data()});
    int64_t differing = 0;
    for (int64_t i = 0; i < in_count; ++i) {
      ASSERT_FALSE(std::isnan(copied[i])) << c.name << " element " << i;
      if (c.tail)
        ASSERT_NEAR(copied[i], packed[i], 1e-5f * (1.0f + std::abs(packed[i])))
            << c.name << " element " << i;
      else
        ASSERT_EQ(std::bit_cast<uint32_t>(copied[i]), std::bit_cast<uint32_t>(packed[i]))
            << c.name << " element " << i;
      differing += copied[i] != packed[i];
    }
    // Only the tail column's elements may differ: one position of each channel's 49.
    EXPECT_LE(differing, g.batch * g.in_channels) << c.name;
  }
}

// transpose_conv_weight on shapes whose sides are not multiples of its 8 x 8 tiles or 64-column
// blocks, float and double: every element in its place.
TEST(Conv2dBackward, TransposedWeightOfAnyShapeHasEveryElementInPlace) {
  for (const auto& [out, in, kernel] : {std::array<int64_t, 3>{13, 7, 3},
                                        {8, 8, 1},
                                        {40, 24, 1},
                                        {9, 65, 1},
                                        {72, 16, 3},
                                        {3, 2, 7}}) {
    const kernels::cpu::Conv2dGeometry g{.in_channels = in,
                                         .in_h = 9,
                                         .in_w = 9,
                                         .out_channels = out,
                                         .kernel_h = kernel,
                                         .kernel_w = kernel};
    const auto weight = testing::random_floats(out * g.patch_size(), 75);
    std::vector<float> transposed(weight.size(), std::numeric_limits<float>::quiet_NaN());
    kernels::cpu::transpose_conv_weight(g, weight.data(), transposed.data());
    std::vector<double> weight64(weight.begin(), weight.end()), transposed64(weight.size(), -1.0);
    kernels::cpu::transpose_conv_weight(g, weight64.data(), transposed64.data());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t j = 0; j < g.patch_size(); ++j) {
        ASSERT_EQ(transposed[j * out + o], weight[o * g.patch_size() + j])
            << out << " x " << g.patch_size() << " at " << o << ", " << j;
        ASSERT_EQ(transposed64[j * out + o], weight64[o * g.patch_size() + j]);
      }
  }
}

// A layer whose options keep WeightCopies: recorded convs take the backward's copy along (made
// once, shared), the input gradient is the plain layer's, and each pass's copy has the layout the
// kernels want: a transpose for a 1x1 layer's backward, packed panels for a 3x3 layer with at
// least 32 target channels (the positions-as-rows kernel), none for a grouped
// layer's forward and backward.
TEST(Conv2dBackward, RecordedLayersCarryTheirWeightsCopies) {
  using kernels::cpu::ConvPass, kernels::cpu::ConvWeightLayout;
  Generator gen(12);
  const Tensor x = randn({2, 32, 8, 6}, gen), w = randn({48, 32, 1, 1}, gen), b = randn({48}, gen);
  const Conv2dOptions plain{};
  const Conv2dOptions kept{.weight_copies = std::make_shared<WeightCopies>()};
  Tensor leaf = x.clone().set_requires_grad(true), reference = x.clone().set_requires_grad(true);
  autograd::backward(sum(conv2d_relu(leaf, w, b, kept)));
  autograd::backward(sum(conv2d_relu(reference, w, b, plain)));
  EXPECT_EQ(leaf.grad().to_vector(), reference.grad().to_vector());
  EXPECT_GT(testing::max_abs_difference(leaf.grad(), zeros(x.shape())), 0.0);

  const kernels::cpu::Conv2dGeometry g{
      .batch = 2, .in_channels = 32, .in_h = 8, .in_w = 6, .out_channels = 48};
  const WeightCopies::Copy copy = kept.weight_copies->of(w, g, ConvPass::backward_input);
  ASSERT_EQ(copy.layout, ConvWeightLayout::transposed);
  EXPECT_EQ(kept.weight_copies->of(w, g, ConvPass::forward).layout, ConvWeightLayout::none);
  EXPECT_TRUE(kept.weight_copies->of(w, g, ConvPass::backward_input)
                  .tensor.shares_storage_with(copy.tensor));  // made once
  EXPECT_EQ(copy.tensor.to_vector(), permute(reshape(w, {48, 32}), {1, 0}).to_vector());
  const Tensor other = randn({48, 32, 1, 1}, gen);  // another weight: a copy of its own
  EXPECT_EQ(kept.weight_copies->of(other, g, ConvPass::backward_input).tensor.to_vector(),
            permute(reshape(other, {48, 32}), {1, 0}).to_vector());
  kernels::cpu::Conv2dGeometry three = g;  // 3x3, stride 1, padded, 96 positions
  three.kernel_h = three.kernel_w = 3;
  three.pad_h = three.pad_w = 1;
  three.in_h = 12;
  three.in_w = 8;
  const Tensor w3 = randn({48, 32, 3, 3}, gen);
  WeightCopies copies;
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_input}) {
    const ConvWeightLayout layout = kernels::cpu::conv2d_weight_layout<float>(three, pass);
    EXPECT_EQ(copies.of(w3, three, pass).layout, layout);
    if (kernels::cpu::position_rows_conv2d_applies(three, pass) &&
        !kernels::cpu::winograd_conv2d_applies(three)) {
      EXPECT_EQ(layout, ConvWeightLayout::position_rows);
      EXPECT_EQ(copies.of(w3, three, pass).tensor.numel(),
                kernels::cpu::position_rows_weight_size(three, pass));
      // Another input size: a copy of its own (a strided layer's phases follow the input).
      const Tensor first = copies.of(w3, three, pass).tensor;
      const auto wider = testing::changed(three, [](auto& c) { c.in_w = 9; });
      EXPECT_FALSE(copies.of(w3, wider, pass).tensor.shares_storage_with(first));
    }
  }
  kernels::cpu::Conv2dGeometry grouped = g;
  grouped.groups = 2;
  for (ConvPass pass : {ConvPass::forward, ConvPass::backward_input})
    EXPECT_EQ(kernels::cpu::conv2d_weight_layout<float>(grouped, pass), ConvWeightLayout::none);
}

// A weight derived from the layer's (LRP's W+) is made once per weight and name, again after the
// weight is written in place or for another tensor, and comes with copies of its own. A recorded
// conv carries the layer's WeightCopies for the rules that ask for it.
TEST(Conv2dBackward, DerivedWeightsAreKeptUntilTheWeightChanges) {
  Generator gen(14);
  Tensor w = randn({8, 4, 3, 3}, gen);
  const auto kept = std::make_shared<WeightCopies>();
  int made = 0;
  const auto positive = [&](const Tensor& t) {
    ++made;
    return relu(t);
  };
  const WeightCopies::Derived first = kept->derived(w, "positive", positive);
  EXPECT_EQ(first.weight.to_vector(), relu(w).to_vector());
  ASSERT_NE(first.copies, nullptr);
  const WeightCopies::Derived again = kept->derived(w, "positive", positive);
  EXPECT_EQ(made, 1);
  EXPECT_TRUE(again.weight.shares_storage_with(first.weight));
  EXPECT_EQ(again.copies, first.copies);
  const WeightCopies::Derived squared =
      kept->derived(w, "square", [](const Tensor& t) { return square(t); });
  EXPECT_EQ(squared.weight.to_vector(), square(w).to_vector());
  EXPECT_TRUE(kept->derived(w, "positive", positive).weight.shares_storage_with(first.weight));
  EXPECT_EQ(made, 1);

  w.copy_from(randn(w.shape(), gen));  // written in place: made again, from the new values
  const WeightCopies::Derived rewritten = kept->derived(w, "positive", positive);
  EXPECT_EQ(made, 2);
  EXPECT_EQ(rewritten.weight.to_vector(), relu(w).to_vector());
  EXPECT_NE(rewritten.weight.to_vector(), first.weight.to_vector());
  const Tensor other = randn(w.shape(), gen);  // another tensor
  EXPECT_EQ(kept->derived(other, "positive", positive).weight.to_vector(), relu(other).to_vector());
  EXPECT_EQ(made, 3);

  const Tensor x = randn({1, 4, 6, 6}, gen).set_requires_grad(true);
  const Tensor y = conv2d(x, w, {}, {.padding = 1, .weight_copies = kept});
  EXPECT_EQ(autograd::node_as<autograd::Conv2dNode>(*y.grad_fn()).weight_copies(), kept);
  const Tensor plain = conv2d(x, w, {}, {.padding = 1});
  EXPECT_EQ(autograd::node_as<autograd::Conv2dNode>(*plain.grad_fn()).weight_copies(), nullptr);
}

// A folded layer's weights redrawn in place (the model randomization test's copy_from, a fill):
// the copies are made again, so the output and the input gradient are the new weights' (a stale
// copy would give the old weights' result). A 1x1 layer (a transposed copy for its backward) and
// a 3x3 one (packed copies for both passes, on AVX-512 builds).
TEST(Conv2dBackward, WeightCopiesFollowWeightsWrittenInPlace) {
  Generator gen(13);
  for (int64_t kernel : {1, 3}) {
    nn::Conv2d layer(32, 48, kernel, {.padding = kernel / 2, .bias = false});
    layer.initialize(gen);
    nn::BatchNorm2d batch_norm(48);
    layer.absorb_batch_norm(batch_norm);
    const Tensor x = randn({2, 32, 8, 6}, gen);
    auto output_and_gradient = [&](const Tensor& weight, bool through_layer) {
      Tensor leaf = x.clone().set_requires_grad(true);
      // The reference makes fresh copies: the same kernels, from the weights as they are now.
      const Tensor y = through_layer
                           ? layer.forward_relu(leaf)
                           : conv2d_relu(leaf, weight, layer.bias(),
                                         {.padding = kernel / 2,
                                          .weight_copies = std::make_shared<WeightCopies>()});
      autograd::backward(sum(y));
      return std::pair{y.to_vector(), leaf.grad().to_vector()};
    };
    Tensor weight = layer.weight();
    const uint64_t before = weight.version();
    EXPECT_EQ(output_and_gradient(weight, true), output_and_gradient(weight, false)) << kernel;
    weight.copy_from(randn(weight.shape(), gen));
    EXPECT_GT(weight.version(), before);
    EXPECT_EQ(output_and_gradient(weight, true), output_and_gradient(weight, false)) << kernel;
    weight.fill(0.25);
    EXPECT_EQ(output_and_gradient(weight, true), output_and_gradient(weight, false)) << kernel;
    const uint64_t filled = weight.version();
    weight.set({0, 0, 0, 0}, -1.0);
    EXPECT_GT(weight.version(), filled);
    EXPECT_EQ(output_and_gradient(weight, true), output_and_gradient(weight, false)) << kernel;
    // A view of the storage writes the same count.
    Tensor view = weight.detach();
    view.fill(0.5);
    EXPECT_EQ(output_and_gradient(weight, true), output_and_gradient(weight, false)) << kernel;
  }
}

// The implicit-GEMM path (float, any stride) against the im2col path run in float64 on the same
// values, element by element, within the float32 bound for a k-term dot product
// (conv_reference.h, shared with the CUDA kernels' tests: the same shapes); outputs are poisoned
// with NaN first, so an element left unwritten fails.
using testing::changed;
using testing::random_floats;

class Conv2dImplicit : public ::testing::TestWithParam<testing::KernelConvCase> {};

TEST_P(Conv2dImplicit, ForwardMatchesIm2colInFloat64) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 1);
  const auto w = random_floats(g.out_channels * g.patch_size(), 2);
  std::vector<float> y(g.batch * g.out_channels * g.out_h() * g.out_w(),
                       std::numeric_limits<float>::quiet_NaN());
  // Where the implicit path does not apply (1x1 layers, a build without AVX-512) the float32
  // GEMM path is held to the same bound.
  if (kernels::cpu::implicit_conv2d_supports(g))
    kernels::cpu::implicit_conv2d_forward(g, x.data(), w.data(), nullptr, y.data());
  else
    kernels::cpu::im2col_conv2d_forward<float>(g, x.data(), w.data(), y.data());
  testing::expect_conv_forward_within_bound(g, x, w, y);
}

// With a bias, through conv2d_forward's dispatch: the bias is added as the implicit path stores
// its last k slice (or in a pass of its own on the GEMM path), one more rounding.
TEST_P(Conv2dImplicit, ForwardAddsTheBiasOnce) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 9);
  const auto w = random_floats(g.out_channels * g.patch_size(), 10);
  const auto b = random_floats(g.out_channels, 11);
  const int64_t plane = g.out_h() * g.out_w();
  std::vector<float> y(g.batch * g.out_channels * plane, std::numeric_limits<float>::quiet_NaN());
  kernels::cpu::conv2d_forward<float>(g, x.data(), w.data(), b.data(), y.data());
  std::vector<double> exact(y.size()), magnitude(y.size());
  kernels::cpu::im2col_conv2d_forward<double>(g, testing::widened(x, false).data(),
                                              testing::widened(w, false).data(), exact.data());
  kernels::cpu::im2col_conv2d_forward<double>(g, testing::widened(x, true).data(),
                                              testing::widened(w, true).data(), magnitude.data());
  for (size_t i = 0; i < y.size(); ++i) {
    const double bias = b[(i / plane) % g.out_channels];
    exact[i] += bias;
    magnitude[i] += std::abs(bias);
  }
  testing::expect_within_float_bound(y, exact, magnitude, g.patch_size() + 1);
}

// The ReLU fused into the store (ConvActivation::relu), with or without a residual added before
// it, gives conv2d_forward's values, the add and relu_forward bit for bit, on whichever path the
// layer takes (implicit, pointwise, im2col), and writes every element (the output is poisoned
// with NaN first, which the ReLU would make 0).
TEST_P(Conv2dImplicit, FusedReluEqualsTheForwardThenReluBitForBit) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 12);
  const auto w = random_floats(g.out_channels * g.patch_size(), 13);
  const auto b = random_floats(g.out_channels, 14);
  const size_t size = g.batch * g.out_channels * g.out_h() * g.out_w();
  const auto shortcut = random_floats(size, 19);
  for (const float* bias : {static_cast<const float*>(nullptr), b.data()})
    for (const float* residual : {static_cast<const float*>(nullptr), shortcut.data()}) {
      std::vector<float> expected(size), fused(size, std::numeric_limits<float>::quiet_NaN());
      kernels::cpu::conv2d_forward<float>(g, x.data(), w.data(), bias, expected.data());
      if (residual != nullptr)
        for (size_t i = 0; i < size; ++i) expected[i] = expected[i] + residual[i];
      kernels::cpu::relu_forward<float>(int64_t(size), expected.data(), expected.data());
      fused[0] = -1.0f;  // a negative left behind would survive the comparison's NaN check
      kernels::cpu::conv2d_forward<float>(g, x.data(), w.data(), bias, fused.data(),
                                          kernels::cpu::ConvActivation::relu, residual);
      size_t zeros = 0;
      for (size_t i = 0; i < size; ++i) {
        ASSERT_EQ(std::bit_cast<uint32_t>(fused[i]), std::bit_cast<uint32_t>(expected[i]))
            << "element " << i << (bias ? " with" : " without") << " bias"
            << (residual ? " with" : " without") << " residual";
        zeros += fused[i] == 0.0f;
      }
      EXPECT_GT(zeros, size / 4);  // the ReLU clamped something
    }
}

// The backward to the input with a ReLU's output and an addend (conv2d_backward_input's
// relu_output, addend) gives the plain result, plus the addend, through relu_backward bit for bit,
// on whichever path the layer takes (implicit, pointwise, im2col), writing every element
// (poisoned with NaN first).
TEST_P(Conv2dImplicit, BackwardInputThroughReluEqualsTheBackwardThenReluBitForBit) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto dy = random_floats(g.batch * g.out_channels * g.out_h() * g.out_w(), 15);
  const auto w = random_floats(g.out_channels * g.patch_size(), 16);
  auto relu_output = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 17);
  kernels::cpu::relu_forward<float>(int64_t(relu_output.size()), relu_output.data(),
                                    relu_output.data());
  const size_t size = relu_output.size();
  const auto other = random_floats(size, 18);
  for (const float* addend : {static_cast<const float*>(nullptr), other.data()}) {
    std::vector<float> expected(size), fused(size, std::numeric_limits<float>::quiet_NaN());
    kernels::cpu::conv2d_backward_input<float>(g, dy.data(), w.data(), expected.data());
    if (addend != nullptr)
      for (size_t i = 0; i < size; ++i) expected[i] = addend[i] + expected[i];
    kernels::cpu::relu_backward<float>(int64_t(size), expected.data(), relu_output.data(),
                                       expected.data());
    kernels::cpu::conv2d_backward_input<float>(g, dy.data(), w.data(), fused.data(),
                                               relu_output.data(), addend);
    size_t zeros = 0;
    for (size_t i = 0; i < size; ++i) {
      ASSERT_EQ(std::bit_cast<uint32_t>(fused[i]), std::bit_cast<uint32_t>(expected[i]))
          << "element " << i << (addend ? " with" : " without") << " addend";
      zeros += relu_output[i] == 0.0f;
    }
    EXPECT_GT(zeros, size / 4);  // the mask has work to do
  }
}

TEST_P(Conv2dImplicit, BackwardInputMatchesIm2colInFloat64) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto dy = random_floats(g.batch * g.out_channels * g.out_h() * g.out_w(), 3);
  const auto w = random_floats(g.out_channels * g.patch_size(), 4);
  std::vector<float> dx(g.batch * g.in_channels * g.in_h * g.in_w,
                        std::numeric_limits<float>::quiet_NaN());
  if (kernels::cpu::implicit_conv2d_supports(g))
    kernels::cpu::implicit_conv2d_backward_input(g, dy.data(), w.data(), dx.data());
  else
    kernels::cpu::im2col_conv2d_backward_input<float>(g, dy.data(), w.data(), dx.data());
  testing::expect_conv_backward_input_within_bound(g, dy, w, dx);
}

// A weight packed for both passes of the positions-as-rows kernel (conv2d_implicit.h).
struct PositionRowsWeights {
  std::vector<float> forward, backward;
  PositionRowsWeights(const kernels::cpu::Conv2dGeometry& g, const std::vector<float>& weight) {
    using kernels::cpu::ConvPass;
    forward.resize(kernels::cpu::position_rows_weight_size(g, ConvPass::forward));
    backward.resize(kernels::cpu::position_rows_weight_size(g, ConvPass::backward_input));
    kernels::cpu::pack_position_rows_weight(g, ConvPass::forward, weight.data(), forward.data());
    kernels::cpu::pack_position_rows_weight(g, ConvPass::backward_input, weight.data(),
                                            backward.data());
  }
};

// The positions-as-rows kernel (conv2d_implicit.h) on every geometry the implicit path supports,
// reading the weight packed for each pass: within the float32 bound of the float64 im2col result,
// every element written (outputs poisoned with NaN). The cases' channel counts leave a panel of
// 64 target channels partly empty, and their widths end tiles of seven positions anywhere.
TEST_P(Conv2dImplicit, PositionRowsMatchIm2colInFloat64) {
  using kernels::cpu::ConvPass;
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  if (!kernels::cpu::implicit_conv2d_supports(g)) GTEST_SKIP() << "not an implicit geometry";
  SKIP_UNLESS_POSITION_ROWS_ARE_BUILT();
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 51);
  const auto w = random_floats(g.out_channels * g.patch_size(), 52);
  const auto dy = random_floats(g.batch * g.out_channels * g.out_h() * g.out_w(), 53);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> y(dy.size(), nan), dx(x.size(), nan);
  const PositionRowsWeights packed(g, w);
  const std::vector<float>&forward = packed.forward, &backward = packed.backward;
  kernels::cpu::position_rows_conv2d_forward(g, x.data(), forward.data(), nullptr, y.data());
  testing::expect_conv_forward_within_bound(g, x, w, y);
  kernels::cpu::position_rows_conv2d_backward_input(g, dy.data(), backward.data(), dx.data());
  testing::expect_conv_backward_input_within_bound(g, dy, w, dx);
}

// Its stores: the bias and ReLU forward, the addend and ReLU mask backward, give the plain
// result through the separate passes bit for bit (the sum is finished before either is applied).
TEST_P(Conv2dImplicit, PositionRowsEpilogueEqualsThePlainResultThenThePasses) {
  using kernels::cpu::ConvPass;
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  if (!kernels::cpu::implicit_conv2d_supports(g)) GTEST_SKIP() << "not an implicit geometry";
  SKIP_UNLESS_POSITION_ROWS_ARE_BUILT();
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 54);
  const auto w = random_floats(g.out_channels * g.patch_size(), 55);
  const auto bias = random_floats(g.out_channels, 56);
  const auto dy = random_floats(g.batch * g.out_channels * g.out_h() * g.out_w(), 57);
  const auto addend = random_floats(x.size(), 58);
  auto mask = random_floats(x.size(), 59);
  kernels::cpu::relu_forward<float>(int64_t(mask.size()), mask.data(), mask.data());
  const PositionRowsWeights packed(g, w);
  const std::vector<float>&forward = packed.forward, &backward = packed.backward;
  std::vector<float> plain(dy.size()), fused(dy.size());
  kernels::cpu::position_rows_conv2d_forward(g, x.data(), forward.data(), nullptr, plain.data());
  kernels::cpu::position_rows_conv2d_forward(g, x.data(), forward.data(), bias.data(), fused.data(),
                                             /*relu=*/true);
  const int64_t plane = g.out_h() * g.out_w();
  for (size_t i = 0; i < plain.size(); ++i) {
    const float value = plain[i] + bias[i / plane % g.out_channels];
    ASSERT_EQ(std::bit_cast<uint32_t>(fused[i]),
              std::bit_cast<uint32_t>(value > 0.0f ? value : 0.0f))
        << "forward element " << i;
  }
  std::vector<float> gradient(x.size()), through(x.size());
  kernels::cpu::position_rows_conv2d_backward_input(g, dy.data(), backward.data(), gradient.data());
  kernels::cpu::position_rows_conv2d_backward_input(g, dy.data(), backward.data(), through.data(),
                                                    mask.data(), addend.data());
  for (size_t i = 0; i < x.size(); ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(through[i]),
              std::bit_cast<uint32_t>(mask[i] > 0.0f ? addend[i] + gradient[i] : 0.0f))
        << "backward element " << i;
}

// The float32 im2col path on every geometry, including those the implicit path takes: it is the
// path of strided layers' backward (col2im's vector spreading of stride 2 over odd and even widths,
// tails of 1-8 values) and of batched image groups forward.
TEST_P(Conv2dImplicit, Im2colPathMatchesIm2colInFloat64) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 5);
  const auto w = random_floats(g.out_channels * g.patch_size(), 6);
  const auto dy = random_floats(g.batch * g.out_channels * g.out_h() * g.out_w(), 7);
  std::vector<float> y(dy.size(), std::numeric_limits<float>::quiet_NaN()),
      dx(x.size(), std::numeric_limits<float>::quiet_NaN());
  kernels::cpu::im2col_conv2d_forward<float>(g, x.data(), w.data(), y.data());
  testing::expect_conv_forward_within_bound(g, x, w, y);
  kernels::cpu::im2col_conv2d_backward_input<float>(g, dy.data(), w.data(), dx.data());
  testing::expect_conv_backward_input_within_bound(g, dy, w, dx);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dImplicit, ::testing::ValuesIn(testing::kernel_conv_cases()),
                         testing::case_name);

TEST(Conv2dImplicit, SupportsUngroupedUndilatedLayersLargerThan1x1AndRunsOnStrideOne) {
  using kernels::cpu::implicit_conv2d_applies, kernels::cpu::implicit_conv2d_supports;
  const kernels::cpu::Conv2dGeometry g = testing::small_3x3_geometry();
  if (!implicit_conv2d_supports(g)) GTEST_SKIP() << "implicit path not built";
  const auto strided = changed(g, [](auto& c) { c.stride_w = 2, c.in_channels = 16; });
  EXPECT_TRUE(implicit_conv2d_supports(strided));
  // Measured slower than im2col + GEMM, except for a stem (few input channels).
  EXPECT_FALSE(implicit_conv2d_applies(strided));
  const auto stem = changed(strided, [](auto& c) { c.in_channels = 3; });
  // Output maps under 64 positions (7 x 7) run faster on im2col + the packed GEMM.
  const auto small_map = changed(g, [](auto& c) { c.in_h = c.in_w = 7; });
  EXPECT_TRUE(implicit_conv2d_supports(small_map));
  EXPECT_FALSE(implicit_conv2d_applies(small_map));
  EXPECT_FALSE(implicit_conv2d_supports(changed(g, [](auto& c) { c.dilation_h = 2; })));
  EXPECT_FALSE(implicit_conv2d_supports(changed(g, [](auto& c) { c.groups = 2; })));
  EXPECT_FALSE(implicit_conv2d_supports(changed(g, [](auto& c) { c.pad_h = 3; })));
  EXPECT_FALSE(implicit_conv2d_supports(
      changed(g, [](auto& c) { c.kernel_h = c.kernel_w = 1, c.pad_h = c.pad_w = 0; })));
  if (kernels::cpu::requested_conv_algorithm() != kernels::cpu::ConvAlgorithmChoice::im2col) {
    EXPECT_TRUE(implicit_conv2d_applies(g));
    EXPECT_TRUE(implicit_conv2d_applies(stem));
  }
}

// With at least one image per thread, the threads take whole images (each its own planes and
// product); the images left over share the threads. Every image's result is the one it gets
// alone, bit for bit, forward and backward (with the ReLU mask and addend at the image's own
// offset), on one thread and on two: 3 images on 2 threads run both ways. A stride-1 layer large
// enough for its tasks to be column blocks (alone on two threads, they split their own bands of
// plane rows), and a stem (strided: four phases of the input gradient).
TEST(Conv2dImplicit, AnImagesResultDoesNotDependOnItsBatchOrTheThreads) {
  using kernels::cpu::Conv2dGeometry;
  const Conv2dGeometry layer = changed(testing::small_3x3_geometry(), [](auto& c) {
    c.batch = 3, c.in_channels = 20, c.in_h = 36, c.in_w = 35, c.out_channels = 40;
  });
  const Conv2dGeometry stem = changed(layer, [](auto& c) {
    c.in_channels = 3, c.in_h = 23, c.in_w = 21, c.out_channels = 16;
    c.kernel_h = c.kernel_w = 7, c.stride_h = c.stride_w = 2, c.pad_h = c.pad_w = 3;
  });
  if (!kernels::cpu::implicit_conv2d_supports(layer)) GTEST_SKIP() << "implicit path not built";
  const int previous = kernels::cpu::num_threads();
  for (const Conv2dGeometry& g : {layer, stem}) {
    const int64_t in_image = g.in_channels * g.in_h * g.in_w,
                  out_image = g.out_channels * g.out_h() * g.out_w();
    const auto x = random_floats(g.batch * in_image, 31);
    const auto w = random_floats(g.out_channels * g.patch_size(), 32);
    const auto dy = random_floats(g.batch * out_image, 33);
    const auto addend = random_floats(g.batch * in_image, 34);
    auto mask = random_floats(g.batch * in_image, 35);
    kernels::cpu::relu_forward<float>(int64_t(mask.size()), mask.data(), mask.data());
    const auto one = changed(g, [](auto& c) { c.batch = 1; });
    for (int threads : {1, 2}) {
      kernels::cpu::set_num_threads(threads);
      std::vector<float> y(g.batch * out_image), dx(g.batch * in_image),
          alone(std::max(in_image, out_image));
      kernels::cpu::implicit_conv2d_forward(g, x.data(), w.data(), nullptr, y.data());
      kernels::cpu::implicit_conv2d_backward_input(g, dy.data(), w.data(), dx.data(), mask.data(),
                                                   addend.data());
      for (int64_t image = 0; image < g.batch; ++image) {
        kernels::cpu::implicit_conv2d_forward(one, x.data() + image * in_image, w.data(), nullptr,
                                              alone.data());
        for (int64_t i = 0; i < out_image; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(alone[i]),
                    std::bit_cast<uint32_t>(y[image * out_image + i]))
              << threads << " threads, forward, image " << image << " element " << i;
        const int64_t at = image * in_image;
        kernels::cpu::implicit_conv2d_backward_input(one, dy.data() + image * out_image, w.data(),
                                                     alone.data(), mask.data() + at,
                                                     addend.data() + at);
        for (int64_t i = 0; i < in_image; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(alone[i]), std::bit_cast<uint32_t>(dx[at + i]))
              << threads << " threads, backward, image " << image << " element " << i;
      }
    }
  }
  kernels::cpu::set_num_threads(previous);
}

// The positions-as-rows kernel on layers with two panels (72 target channels, the second partly
// empty), two k slices (136 source channels x 9 taps, over 1152 steps) and several bands of
// output rows (rows of 13 and 7), stride 1 and 2: an image's result is the one it gets alone, bit
// for bit, forward and backward, on one thread and on two; and conv2d_forward /
// conv2d_backward_input given the packed copies run it (the same bits), while without a copy they
// run another path.
TEST(Conv2dImplicit, PositionRowsResultsDoNotDependOnTheBatchOrTheThreads) {
  using kernels::cpu::ConvPass, kernels::cpu::ConvWeightLayout;
  const kernels::cpu::Conv2dGeometry layer = changed(testing::small_3x3_geometry(), [](auto& c) {
    c.batch = 3, c.in_channels = 136, c.in_h = 30, c.in_w = 13, c.out_channels = 72;
  });
  if (!kernels::cpu::implicit_conv2d_supports(layer)) GTEST_SKIP() << "implicit path not built";
  SKIP_UNLESS_POSITION_ROWS_ARE_BUILT();
  const auto strided = changed(layer, [](auto& c) { c.stride_h = c.stride_w = 2; });
  const int previous = kernels::cpu::num_threads();
  for (const kernels::cpu::Conv2dGeometry& g : {layer, strided}) {
    const int64_t in_image = g.in_channels * g.in_h * g.in_w,
                  out_image = g.out_channels * g.out_h() * g.out_w();
    const auto x = random_floats(g.batch * in_image, 61);
    const auto w = random_floats(g.out_channels * g.patch_size(), 62);
    const auto dy = random_floats(g.batch * out_image, 63);
    const PositionRowsWeights packed(g, w);
    const std::vector<float>&forward = packed.forward, &backward = packed.backward;
    const auto one = changed(g, [](auto& c) { c.batch = 1; });
    for (int threads : {1, 2}) {
      kernels::cpu::set_num_threads(threads);
      std::vector<float> y(g.batch * out_image), dx(g.batch * in_image),
          alone(std::max(in_image, out_image));
      kernels::cpu::position_rows_conv2d_forward(g, x.data(), forward.data(), nullptr, y.data());
      kernels::cpu::position_rows_conv2d_backward_input(g, dy.data(), backward.data(), dx.data());
      for (int64_t image = 0; image < g.batch; ++image) {
        kernels::cpu::position_rows_conv2d_forward(one, x.data() + image * in_image, forward.data(),
                                                   nullptr, alone.data());
        for (int64_t i = 0; i < out_image; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(alone[i]),
                    std::bit_cast<uint32_t>(y[image * out_image + i]))
              << g.stride_h << " stride, " << threads << " threads, forward, image " << image
              << " element " << i;
        kernels::cpu::position_rows_conv2d_backward_input(one, dy.data() + image * out_image,
                                                          backward.data(), alone.data());
        for (int64_t i = 0; i < in_image; ++i)
          ASSERT_EQ(std::bit_cast<uint32_t>(alone[i]),
                    std::bit_cast<uint32_t>(dx[image * in_image + i]))
              << g.stride_h << " stride, " << threads << " threads, backward, image " << image
              << " element " << i;
      }
      if (kernels::cpu::conv2d_weight_layout<float>(g, ConvPass::forward) !=
          ConvWeightLayout::position_rows)
        continue;  // the im2col algorithm chosen
      std::vector<float> dispatched(y.size()), unpacked(y.size());
      kernels::cpu::conv2d_forward<float>(g, x.data(), w.data(), nullptr, dispatched.data(),
                                          kernels::cpu::ConvActivation::none, nullptr,
                                          {ConvWeightLayout::position_rows, forward.data()});
      kernels::cpu::conv2d_forward<float>(g, x.data(), w.data(), nullptr, unpacked.data());
      EXPECT_EQ(dispatched, y);
      EXPECT_NE(unpacked, y);  // another summation order
      if (kernels::cpu::conv2d_weight_layout<float>(g, ConvPass::backward_input) !=
          ConvWeightLayout::position_rows)
        continue;  // (AVX2 keeps a strided layer's backward on im2col)
      std::vector<float> gradient(dx.size());
      kernels::cpu::conv2d_backward_input<float>(
          g, dy.data(), w.data(), gradient.data(), nullptr, nullptr,
          {ConvWeightLayout::position_rows, backward.data()});
      EXPECT_EQ(gradient, dx);
    }
  }
  kernels::cpu::set_num_threads(previous);
}

// A batch whose output passes 16 MiB is stored with non-temporal stores (conv2d_implicit.cpp,
// kStreamBytes) where blocks are copied as they are; one image alone (1 MB) is not. Both must
// give the same bits, every element written (the output starts as NaN). Rows of 127 floats, so
// that runs start at every alignment.
TEST(Conv2dImplicit, ALargeBatchsStreamedOutputEqualsEachImageAlone) {
  const kernels::cpu::Conv2dGeometry g = changed(testing::small_3x3_geometry(), [](auto& c) {
    c.batch = 17, c.in_channels = 3, c.in_h = c.in_w = 253, c.out_channels = 16;
    c.stride_h = c.stride_w = 2;
  });
  if (!kernels::cpu::implicit_conv2d_supports(g)) GTEST_SKIP() << "implicit path not built";
  const int64_t in_image = g.in_channels * g.in_h * g.in_w,
                out_image = g.out_channels * g.out_h() * g.out_w();
  ASSERT_GE(g.batch * out_image * int64_t(sizeof(float)), int64_t(16) << 20);
  const auto x = random_floats(g.batch * in_image, 41);
  const auto w = random_floats(g.out_channels * g.patch_size(), 42);
  const auto bias = random_floats(g.out_channels, 43);
  std::vector<float> y(g.batch * out_image, std::nanf("")), alone(out_image, std::nanf(""));
  kernels::cpu::implicit_conv2d_forward(g, x.data(), w.data(), bias.data(), y.data(), true);
  const auto one = changed(g, [](auto& c) { c.batch = 1; });
  for (int64_t image = 0; image < g.batch; image += 5) {
    kernels::cpu::implicit_conv2d_forward(one, x.data() + image * in_image, w.data(), bias.data(),
                                          alone.data(), true);
    for (int64_t i = 0; i < out_image; ++i) {
      ASSERT_FALSE(std::isnan(y[image * out_image + i])) << "image " << image << " element " << i;
      ASSERT_EQ(std::bit_cast<uint32_t>(alone[i]),
                std::bit_cast<uint32_t>(y[image * out_image + i]))
          << "image " << image << " element " << i;
    }
  }
}

// Winograd F(4x4, 3x3) against the float64 im2col path. Its error is not bounded by the direct
// sum's k * 2^-24 * sum |w| |x|: each output combines 36 products of transformed values, so
// the bound is (channels + 20) * 2^-24 times the same computation on absolute values,
// |A^T| (|G| |w| |G^T| . |B^T| |d| |B|) |A| summed over channels: channels roundings in the
// product's sum, 19 on the deepest path through the rest (the input transform 2 per dimension,
// the filter's 4 per dimension counting its inexact 1/6, 1/12, 1/24, the output's 3 per
// dimension, the product 1), rounded up to 20 (see conv2d_winograd.h).
constexpr std::array<std::array<double, 3>, 6> kAbsG = {{{1.0 / 4, 0, 0},
                                                         {1.0 / 6, 1.0 / 6, 1.0 / 6},
                                                         {1.0 / 6, 1.0 / 6, 1.0 / 6},
                                                         {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                                         {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                                         {0, 0, 1}}};
constexpr std::array<std::array<double, 6>, 6> kAbsBT = {{{4, 0, 5, 0, 1, 0},
                                                          {0, 4, 4, 1, 1, 0},
                                                          {0, 4, 4, 1, 1, 0},
                                                          {0, 2, 1, 2, 1, 0},
                                                          {0, 2, 1, 2, 1, 0},
                                                          {0, 4, 0, 5, 0, 1}}};
constexpr std::array<std::array<double, 6>, 4> kAbsAT = {
    {{1, 1, 1, 1, 1, 0}, {0, 1, 1, 2, 2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, 1, 8, 8, 1}}};

// The bound's magnitude for every output of a forward pass of g (3x3, stride 1) on x, w.
std::vector<double> winograd_magnitude(const kernels::cpu::Conv2dGeometry& g,
                                       const std::vector<float>& x, const std::vector<float>& w) {
  const int64_t out_h = g.out_h(), out_w = g.out_w(), tiles_h = (out_h + 3) / 4,
                tiles_w = (out_w + 3) / 4;
  using Matrix6 = std::array<std::array<double, 6>, 6>;
  std::vector<Matrix6> u(g.out_channels * g.in_channels),
      v(g.batch * g.in_channels * tiles_h * tiles_w);
  for (int64_t k = 0; k < g.out_channels * g.in_channels; ++k)
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        double total = 0;
        for (int a = 0; a < 3; ++a)
          for (int b = 0; b < 3; ++b)
            total += kAbsG[i][a] * std::abs(double(w[k * 9 + a * 3 + b])) * kAbsG[j][b];
        u[k][i][j] = total;
      }
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t c = 0; c < g.in_channels; ++c)
      for (int64_t ty = 0; ty < tiles_h; ++ty)
        for (int64_t tx = 0; tx < tiles_w; ++tx) {
          Matrix6& tile = v[((n * g.in_channels + c) * tiles_h + ty) * tiles_w + tx];
          for (int i = 0; i < 6; ++i)
            for (int j = 0; j < 6; ++j) {
              double total = 0;
              for (int a = 0; a < 6; ++a)
                for (int b = 0; b < 6; ++b) {
                  const int64_t y = 4 * ty - g.pad_h + a, xx = 4 * tx - g.pad_w + b;
                  if (y < 0 || y >= g.in_h || xx < 0 || xx >= g.in_w) continue;
                  total +=
                      kAbsBT[i][a] *
                      std::abs(double(x[((n * g.in_channels + c) * g.in_h + y) * g.in_w + xx])) *
                      kAbsBT[j][b];
                }
              tile[i][j] = total;
            }
        }
  std::vector<double> magnitude(g.batch * g.out_channels * out_h * out_w);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t o = 0; o < g.out_channels; ++o)
      for (int64_t y = 0; y < out_h; ++y)
        for (int64_t xx = 0; xx < out_w; ++xx) {
          double total = 0;
          for (int64_t c = 0; c < g.in_channels; ++c) {
            const Matrix6& weights = u[o * g.in_channels + c];
            const Matrix6& data = v[((n * g.in_channels + c) * tiles_h + y / 4) * tiles_w + xx / 4];
            for (int i = 0; i < 6; ++i)
              for (int j = 0; j < 6; ++j)
                total += kAbsAT[y % 4][i] * kAbsAT[xx % 4][j] * weights[i][j] * data[i][j];
          }
          magnitude[((n * g.out_channels + o) * out_h + y) * out_w + xx] = total;
        }
  return magnitude;
}

void expect_within_winograd_bound(const std::vector<float>& got, const std::vector<double>& exact,
                                  const std::vector<double>& magnitude, int64_t channels) {
  testing::expect_within_float_bound(got, exact, magnitude, channels + 20);
}

class Conv2dWinograd : public ::testing::TestWithParam<testing::KernelConvCase> {};
// Builds without AVX-512 or AVX2 have no Winograd path: no shapes to instantiate, the rest skips
// (SKIP_UNLESS_WINOGRAD_IS_BUILT, conv_reference.h).
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Conv2dWinograd);

TEST_P(Conv2dWinograd, ForwardMatchesIm2colInFloat64) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 5);
  const auto w = random_floats(g.out_channels * g.patch_size(), 6);
  std::vector<float> y(g.batch * g.out_channels * g.out_h() * g.out_w(),
                       std::numeric_limits<float>::quiet_NaN());
  kernels::cpu::winograd_conv2d_forward(g, x.data(), w.data(), y.data());
  std::vector<double> exact(y.size());
  kernels::cpu::im2col_conv2d_forward<double>(g, testing::widened(x, false).data(),
                                              testing::widened(w, false).data(), exact.data());
  expect_within_winograd_bound(y, exact, winograd_magnitude(g, x, w), g.in_channels);
}

TEST_P(Conv2dWinograd, BackwardInputMatchesIm2colInFloat64) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto dy = random_floats(g.batch * g.out_channels * g.out_h() * g.out_w(), 7);
  const auto w = random_floats(g.out_channels * g.patch_size(), 8);
  std::vector<float> dx(g.batch * g.in_channels * g.in_h * g.in_w,
                        std::numeric_limits<float>::quiet_NaN());
  kernels::cpu::winograd_conv2d_backward_input(g, dy.data(), w.data(), dx.data());
  std::vector<double> exact(dx.size());
  kernels::cpu::im2col_conv2d_backward_input<double>(
      g, testing::widened(dy, false).data(), testing::widened(w, false).data(), exact.data());
  // The bound of the equivalent forward pass: the output gradient padded by 2 - pad, the
  // kernel rotated by 180 degrees with its channels swapped.
  kernels::cpu::Conv2dGeometry forward = g;
  forward.in_channels = g.out_channels, forward.out_channels = g.in_channels;
  forward.in_h = g.out_h(), forward.in_w = g.out_w();
  forward.pad_h = 2 - g.pad_h, forward.pad_w = 2 - g.pad_w;
  std::vector<float> rotated(w.size());
  for (int64_t o = 0; o < g.out_channels; ++o)
    for (int64_t c = 0; c < g.in_channels; ++c)
      for (int t = 0; t < 9; ++t)
        rotated[(c * g.out_channels + o) * 9 + (8 - t)] = w[(o * g.in_channels + c) * 9 + t];
  expect_within_winograd_bound(dx, exact, winograd_magnitude(forward, dy, rotated), g.out_channels);
}

// The shared geometries that are 3x3 stride-1 layers (edges, padding 0-2, one pixel, batch 2,
// ResNet's layer3).
std::vector<testing::KernelConvCase> winograd_cases() {
  std::vector<testing::KernelConvCase> cases;
  for (const auto& c : testing::kernel_conv_cases())
    if (kernels::cpu::winograd_conv2d_supports(c.geometry)) cases.push_back(c);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dWinograd, ::testing::ValuesIn(winograd_cases()),
                         testing::case_name);

// The epilogue (bias, residual, ReLU forward; addend and ReLU mask backward) applied as the
// result is stored gives the plain Winograd result followed by the separate passes, bit for bit,
// writing every element (poisoned with NaN first).
TEST_P(Conv2dWinograd, EpilogueEqualsThePlainResultThenThePassesBitForBit) {
  const kernels::cpu::Conv2dGeometry& g = GetParam().geometry;
  const auto x = random_floats(g.batch * g.in_channels * g.in_h * g.in_w, 21);
  const auto w = random_floats(g.out_channels * g.patch_size(), 22);
  const auto b = random_floats(g.out_channels, 23);
  const size_t out_size = g.batch * g.out_channels * g.out_h() * g.out_w();
  const size_t in_size = x.size();
  const auto residual = random_floats(out_size, 24);
  std::vector<float> expected(out_size), fused(out_size, std::numeric_limits<float>::quiet_NaN());
  kernels::cpu::winograd_conv2d_forward(g, x.data(), w.data(), expected.data());
  for (size_t i = 0; i < out_size; ++i)
    expected[i] = (expected[i] + b[i / (g.out_h() * g.out_w()) % g.out_channels]) + residual[i];
  kernels::cpu::relu_forward<float>(int64_t(out_size), expected.data(), expected.data());
  kernels::cpu::winograd_conv2d_forward(
      g, x.data(), w.data(), fused.data(),
      {.bias = b.data(), .relu = true, .addend = residual.data()});
  for (size_t i = 0; i < out_size; ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(fused[i]), std::bit_cast<uint32_t>(expected[i])) << i;

  const auto dy = random_floats(out_size, 25);
  auto relu_output = random_floats(in_size, 26);
  kernels::cpu::relu_forward<float>(int64_t(in_size), relu_output.data(), relu_output.data());
  const auto addend = random_floats(in_size, 27);
  std::vector<float> expected_dx(in_size),
      fused_dx(in_size, std::numeric_limits<float>::quiet_NaN());
  kernels::cpu::winograd_conv2d_backward_input(g, dy.data(), w.data(), expected_dx.data());
  for (size_t i = 0; i < in_size; ++i) expected_dx[i] = expected_dx[i] + addend[i];
  kernels::cpu::relu_backward<float>(int64_t(in_size), expected_dx.data(), relu_output.data(),
                                     expected_dx.data());
  kernels::cpu::winograd_conv2d_backward_input(
      g, dy.data(), w.data(), fused_dx.data(),
      {.relu_mask = relu_output.data(), .addend = addend.data()});
  for (size_t i = 0; i < in_size; ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(fused_dx[i]), std::bit_cast<uint32_t>(expected_dx[i])) << i;
}

// Tiles from several images share the transform blocks (and, with enough blocks, the threads take
// whole blocks), yet an image's result is the one it gets alone, bit for bit: the methods' results
// must not depend on the batch size. 8 images of 28x28 make 392 tiles (5 blocks).
TEST(Conv2dWinograd, AnImagesResultDoesNotDependOnItsBatch) {
  SKIP_UNLESS_WINOGRAD_IS_BUILT();
  const kernels::cpu::Conv2dGeometry g{.batch = 8,
                                       .in_channels = 24,
                                       .in_h = 28,
                                       .in_w = 28,
                                       .out_channels = 20,
                                       .kernel_h = 3,
                                       .kernel_w = 3,
                                       .pad_h = 1,
                                       .pad_w = 1};
  const int64_t in_image = g.in_channels * g.in_h * g.in_w,
                out_image = g.out_channels * g.out_h() * g.out_w();
  const auto x = random_floats(g.batch * in_image, 28);
  const auto w = random_floats(g.out_channels * g.patch_size(), 29);
  std::vector<float> batched(g.batch * out_image), alone(out_image);
  kernels::cpu::winograd_conv2d_forward(g, x.data(), w.data(), batched.data());
  const auto one = changed(g, [](auto& c) { c.batch = 1; });
  for (const int64_t image : {0, 3, 7}) {
    kernels::cpu::winograd_conv2d_forward(one, x.data() + image * in_image, w.data(), alone.data());
    for (int64_t i = 0; i < out_image; ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(alone[i]),
                std::bit_cast<uint32_t>(batched[image * out_image + i]))
          << "image " << image << " element " << i;
  }
}

// The error that matters in practice, on ResNet-50's stride-1 3x3 layers (batch 1, inputs and
// weights uniform in [-1, 1]): relative L2 distance to float64 of the Winograd result and of
// the direct kernel's. Measured: Winograd 1.7e-6 (56x56 x 64) rising with the channels to 3.4e-6
// (7x7 x 512), 6-12x the direct kernel's 2.8e-7 (printed); held to 4e-6 and 16x, so a transform
// that lost precision would show.
TEST(Conv2dWinograd, ErrorOnResNet50LayersIsAFewTimesTheDirectKernels) {
  SKIP_UNLESS_WINOGRAD_IS_BUILT();
  for (const int64_t size : {56, 28, 14, 7}) {
    const int64_t channels = 64 * 56 / size;
    const kernels::cpu::Conv2dGeometry g{.in_channels = channels,
                                         .in_h = size,
                                         .in_w = size,
                                         .out_channels = channels,
                                         .kernel_h = 3,
                                         .kernel_w = 3,
                                         .pad_h = 1,
                                         .pad_w = 1};
    const auto x = random_floats(channels * size * size, 31);
    const auto w = random_floats(channels * g.patch_size(), 32);
    std::vector<double> exact(channels * size * size);
    kernels::cpu::im2col_conv2d_forward<double>(g, testing::widened(x, false).data(),
                                                testing::widened(w, false).data(), exact.data());
    std::vector<float> winograd(exact.size()), direct(exact.size());
    kernels::cpu::winograd_conv2d_forward(g, x.data(), w.data(), winograd.data());
    kernels::cpu::im2col_conv2d_forward<float>(g, x.data(), w.data(), direct.data());
    const auto relative_l2 = [&](const std::vector<float>& got) {
      double error = 0, norm = 0;
      for (size_t i = 0; i < exact.size(); ++i) {
        error += (got[i] - exact[i]) * (got[i] - exact[i]);
        norm += exact[i] * exact[i];
      }
      return std::sqrt(error / norm);
    };
    const double winograd_error = relative_l2(winograd), direct_error = relative_l2(direct);
    std::printf("%lldx%lld x %lld channels: Winograd %.2e, direct %.2e\n",
                static_cast<long long>(size), static_cast<long long>(size),
                static_cast<long long>(channels), winograd_error, direct_error);
    EXPECT_LT(winograd_error, 4e-6);
    EXPECT_LT(winograd_error, 16 * direct_error);
  }
}

TEST(Conv2dWinograd, SupportsOnly3x3StrideOneAndRunsOnlyWhenChosen) {
  SKIP_UNLESS_WINOGRAD_IS_BUILT();
  using kernels::cpu::ConvAlgorithmChoice, kernels::cpu::winograd_conv2d_applies,
      kernels::cpu::winograd_conv2d_supports;
  const kernels::cpu::Conv2dGeometry g = testing::small_3x3_geometry();
  EXPECT_TRUE(winograd_conv2d_supports(g));
  EXPECT_FALSE(winograd_conv2d_supports(changed(g, [](auto& c) { c.stride_w = 2; })));
  EXPECT_FALSE(winograd_conv2d_supports(changed(g, [](auto& c) { c.kernel_w = 5, c.pad_w = 2; })));
  EXPECT_FALSE(winograd_conv2d_supports(changed(g, [](auto& c) { c.dilation_h = 2; })));
  EXPECT_FALSE(winograd_conv2d_supports(changed(g, [](auto& c) { c.groups = 2; })));
  EXPECT_FALSE(winograd_conv2d_supports(changed(g, [](auto& c) { c.pad_h = 3; })));

  const testing::ConvAlgorithmScope restore(kernels::cpu::requested_conv_algorithm());
  const auto tiles_32 = changed(g, [](auto& c) { c.batch = 2, c.in_h = c.in_w = 13; });  // 2x4x4
  const auto tiles_1 = changed(g, [](auto& c) { c.batch = 1, c.in_h = c.in_w = 4; });    // 1x1x1
  kernels::cpu::set_conv_algorithm(ConvAlgorithmChoice::direct);
  EXPECT_FALSE(winograd_conv2d_applies(tiles_32));  // the default: PyTorch's float32 floor
  kernels::cpu::set_conv_algorithm(ConvAlgorithmChoice::winograd);
  EXPECT_TRUE(winograd_conv2d_applies(tiles_32));
  EXPECT_FALSE(winograd_conv2d_applies(tiles_1));  // too few tiles to repay the weights' transform
  EXPECT_TRUE(winograd_conv2d_applies(changed(tiles_1, [](auto& c) { c.batch = 4; })));
  {
    autograd::SaveForRulesGuard rules;  // LRP: exact zeros needed
    EXPECT_TRUE(kernels::cpu::exact_convolutions_required());
    EXPECT_FALSE(winograd_conv2d_applies(tiles_32));
  }
  EXPECT_FALSE(kernels::cpu::exact_convolutions_required());
  EXPECT_TRUE(winograd_conv2d_applies(tiles_32));
}

TEST(Conv2dErrors, MessagesNameTheOpAndShapes) {
  const Tensor x = zeros({1, 3, 8, 8}), w = zeros({4, 2, 3, 3});
  try {
    conv2d(x, w);
    FAIL() << "expected an error";
  } catch (const InvalidArgument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("conv2d"), std::string::npos) << message;
    EXPECT_NE(message.find("[1, 3, 8, 8]"), std::string::npos) << message;
    EXPECT_NE(message.find("[4, 2, 3, 3]"), std::string::npos) << message;
  }
  EXPECT_THROW(conv2d(x, zeros({4, 3, 3, 3}, DType::Float64)), InvalidArgument);
  EXPECT_THROW(conv2d(zeros({1, 3, 2, 2}), zeros({4, 3, 3, 3})), InvalidArgument);
  EXPECT_THROW(conv2d(x, zeros({4, 3, 3, 3}), zeros({5})), InvalidArgument);
}

}  // namespace
}  // namespace saliency
