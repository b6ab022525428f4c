// The CUDA kernels against their CPU specification: random inputs, outputs poisoned with NaN
// first (an element a kernel leaves unwritten fails), then exact equality where the arithmetic
// is the same and the float error bound where the summation order differs. Without a GPU (or
// in a build without CUDA) every test skips and says why; scripts/gpu-check.sh runs them on a
// machine with one.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "conv_reference.h"
#include "core/error.h"
#include "core/factory.h"
#include "core/tensor.h"
#include "kernels/cpu/batch_norm.h"
#include "kernels/cpu/conv2d.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cpu/linear.h"
#include "kernels/cpu/pooling.h"
#include "kernels/cpu/random.h"
#include "kernels/cuda/batch_norm.h"
#include "kernels/cuda/conv2d.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/linear.h"
#include "kernels/cuda/memory.h"
#include "kernels/cuda/pooling.h"
#include "kernels/cuda/random.h"
#include "kernels/cuda/runtime.h"

namespace saliency {
namespace {

namespace cuda = kernels::cuda;
namespace cpu = kernels::cpu;

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda::built_with_cuda()) GTEST_SKIP() << "this build has no CUDA (SALIENCY_CUDA=OFF)";
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
};

using testing::random_floats;

// Tensors on the device: storage from the caching allocator, to(Device) both ways, clone on the
// device, and host access refused.
TEST_F(Cuda, TensorsMoveToTheDeviceAndBackBitForBit) {
  const auto values = random_floats(777, 2);
  Tensor host = Tensor::empty({7, 111});
  std::copy(values.begin(), values.end(), host.data<float>());
  const Tensor device = host.to(Device::cuda());
  EXPECT_EQ(device.device(), Device::cuda());
  EXPECT_TRUE(device.to(Device::cuda()).is_same(device));
  EXPECT_NE(device.device_data<float>(), nullptr);
  try {
    (void)device.data<float>();
    ADD_FAILURE() << "host access to a device tensor should throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda:0"), std::string::npos) << e.what();
  }
  const Tensor back = device.clone().to(Device::cpu());
  EXPECT_EQ(back.device(), Device::cpu());
  const float* p = back.data<float>();
  EXPECT_EQ(std::vector<float>(p, p + back.numel()), values);
  EXPECT_THROW(Tensor::empty({4}, DType::Float32, Device::cuda(1)), Error);
}

// A device array filled with NaN: what a kernel does not write stays NaN.
cuda::DeviceArray<float> poisoned(int64_t count) {
  return cuda::DeviceArray<float>(
      std::vector<float>(static_cast<size_t>(count), std::numeric_limits<float>::quiet_NaN()));
}

TEST_F(Cuda, CopiesRoundTripAndTheAllocatorReusesFreedBlocks) {
  const auto values = random_floats(1000, 1);
  {
    cuda::DeviceArray<float> device(values);
    EXPECT_EQ(device.download(), values);
  }
  const uint64_t before = cuda::CudaAllocator::instance().stats().system_allocations;
  {
    cuda::DeviceArray<float> again(values);
    EXPECT_EQ(again.download(), values);
  }
  EXPECT_EQ(cuda::CudaAllocator::instance().stats().system_allocations, before);
}

TEST_F(Cuda, ReluAndItsBackwardRulesEqualTheCpuKernels) {
  const int64_t n = 100003;  // not a multiple of the block size
  const auto x = random_floats(n, 2), g = random_floats(n, 3);
  std::vector<float> y(n), expected(n);
  cpu::relu_forward(n, x.data(), y.data());
  const cuda::DeviceArray<float> dx(x), dy(y), dg(g);
  auto out = poisoned(n);
  cuda::relu_forward(n, dx.data(), out.data());
  EXPECT_EQ(out.download(), y);

  out = poisoned(n);
  cuda::relu_backward(n, dg.data(), dy.data(), out.data());
  cpu::relu_backward(n, g.data(), y.data(), expected.data());
  EXPECT_EQ(out.download(), expected);

  cuda::relu_backward_guided(n, dg.data(), dy.data(), out.data());
  cpu::relu_backward_guided(n, g.data(), y.data(), expected.data());
  EXPECT_EQ(out.download(), expected);

  cuda::relu_backward_deconvnet(n, dg.data(), out.data());
  cpu::relu_backward_deconvnet(n, g.data(), expected.data());
  EXPECT_EQ(out.download(), expected);
}

TEST_F(Cuda, AbsAndSquareWithTheirBackwardsEqualTheCpuKernels) {
  const int64_t n = 5003;
  auto x = random_floats(n, 22);
  x[0] = 0.0f, x[1] = -0.0f;  // abs' gradient is 0 at 0, of either sign
  const auto g = random_floats(n, 23);
  const cuda::DeviceArray<float> dx(x), dg(g);
  std::vector<float> expected(n);
  for (cpu::UnaryOp op : {cpu::UnaryOp::Abs, cpu::UnaryOp::Square}) {
    auto out = poisoned(n);
    cuda::unary_forward(op, n, dx.data(), out.data());
    cpu::unary_forward(op, n, x.data(), expected.data());
    EXPECT_EQ(out.download(), expected) << "op " << int(op);
    out = poisoned(n);
    cuda::unary_backward(op, n, dg.data(), dx.data(), out.data());
    cpu::unary_backward(op, n, g.data(), x.data(), expected.data());
    EXPECT_EQ(out.download(), expected) << "backward of op " << int(op);
  }
}

// LRP's ratio with and without the gamma rule's gate (zeros in z and in the gate included: the
// stabilizer's sign(0) = +1 and closed gates), and the negative-input test.
TEST_F(Cuda, LrpRatioAndNegativeTestEqualTheCpuKernels) {
  const int64_t n = 3001;
  auto z = random_floats(n, 24), gate = random_floats(n, 25);
  const auto relevance = random_floats(n, 26);
  z[0] = z[7] = 0.0f, gate[1] = gate[8] = 0.0f;
  const cuda::DeviceArray<float> dr(relevance), dz(z), dg(gate);
  std::vector<float> expected(n);
  for (int sign : {0, 1, -1}) {
    const float* host_gate = sign == 0 ? nullptr : gate.data();
    const float* device_gate = sign == 0 ? nullptr : dg.data();
    auto out = poisoned(n);
    cuda::stabilized_ratio(n, dr.data(), dz.data(), 1e-6f, device_gate, sign, out.data());
    cpu::stabilized_ratio(n, relevance.data(), z.data(), 1e-6f, host_gate, sign, expected.data());
    EXPECT_EQ(out.download(), expected) << "gate sign " << sign;
  }
  auto non_negative = random_floats(n, 27);
  for (float& v : non_negative) v = std::abs(v);
  const cuda::DeviceArray<float> dn(non_negative);
  EXPECT_FALSE(cuda::any_negative(n, dn.data()));
  EXPECT_FALSE(cpu::any_negative(n, non_negative.data()));
  non_negative[n - 1] = -1e-30f;
  const cuda::DeviceArray<float> last(non_negative);
  EXPECT_TRUE(cuda::any_negative(n, last.data()));
  EXPECT_TRUE(cpu::any_negative(n, non_negative.data()));
  // The sum rule, with exact zero sums in the mix.
  auto b = random_floats(n, 28);
  b[3] = -z[3];
  const cuda::DeviceArray<float> db(b);
  auto share_a = poisoned(n), share_b = poisoned(n);
  cuda::sum_shares(n, dz.data(), db.data(), dr.data(), 1e-6f, share_a.data(), share_b.data());
  std::vector<float> expected_b(n);
  cpu::sum_shares(n, z.data(), b.data(), relevance.data(), 1e-6f, expected.data(),
                  expected_b.data());
  EXPECT_EQ(share_a.download(), expected);
  EXPECT_EQ(share_b.download(), expected_b);
}

TEST_F(Cuda, BinaryOpsAndScaleShiftEqualTheCpuKernels) {
  const int64_t n = 4097;
  const auto a = random_floats(n, 4), b = random_floats(n, 5);
  const cuda::DeviceArray<float> da(a), db(b);
  std::vector<float> expected(n);
  const cpu::BroadcastLayout same{{n}, {1}, {1}};
  for (cpu::BinaryOp op : {cpu::BinaryOp::Add, cpu::BinaryOp::Sub, cpu::BinaryOp::Mul}) {
    auto out = poisoned(n);
    cuda::binary_same_shape(op, n, da.data(), db.data(), out.data());
    cpu::binary_forward(op, same, a.data(), b.data(), expected.data());
    EXPECT_EQ(out.download(), expected) << "op " << int(op);
  }
  auto out = poisoned(n);
  cuda::scale_shift(n, 1.7f, -0.3f, da.data(), out.data());
  cpu::scale_shift(n, 1.7f, -0.3f, a.data(), expected.data());
  const auto got = out.download();
  for (int64_t i = 0; i < n; ++i)  // the CPU build may fuse the multiply-add: one rounding apart
    ASSERT_NEAR(got[i], expected[i], 2e-7 * (std::abs(1.7f * a[i]) + 0.3f)) << "element " << i;
}

// The streaming kernels go four floats at a time when every pointer is on a 16-byte boundary
// and one at a time otherwise: views one element in (no boundary) must give the same bits.
TEST_F(Cuda, StreamingKernelsGiveTheSameBitsOnUnalignedViews) {
  const int64_t n = 1001;
  const auto a = random_floats(n + 1, 31), b = random_floats(n + 1, 32);
  const cuda::DeviceArray<float> da(a), db(b);
  std::vector<float> expected(n);
  for (int offset : {0, 1}) {
    auto out = poisoned(n + 1);
    cuda::binary_same_shape(cpu::BinaryOp::Add, n, da.data() + offset, db.data() + 1,
                            out.data() + offset);
    cpu::binary_forward(cpu::BinaryOp::Add, cpu::BroadcastLayout{{n}, {1}, {1}}, a.data() + offset,
                        b.data() + 1, expected.data());
    auto got = out.download();
    EXPECT_EQ(std::vector<float>(got.begin() + offset, got.begin() + offset + n), expected)
        << "offset " << offset;
    out = poisoned(n + 1);
    cuda::relu_backward(n, da.data() + offset, db.data() + offset, out.data() + offset);
    cpu::relu_backward(n, a.data() + offset, b.data() + offset, expected.data());
    got = out.download();
    EXPECT_EQ(std::vector<float>(got.begin() + offset, got.begin() + offset + n), expected)
        << "offset " << offset;
  }
}

// A convolution's bias, on planes of 49 (one element at a time), 64 (four at a time) and 1, and
// on more planes than one launch's grid row holds (65535).
TEST_F(Cuda, ChannelBiasEqualsAddingEachChannelsBias) {
  struct Case {
    int64_t batch, channels, plane;
  };
  for (const Case c : {Case{3, 5, 49}, Case{2, 7, 64}, Case{70000, 3, 1}}) {
    const int64_t n = c.batch * c.channels * c.plane;
    const auto data = random_floats(n, 33), bias = random_floats(c.channels, 34);
    const cuda::DeviceArray<float> device_bias(bias);
    cuda::DeviceArray<float> device_data(data);
    cuda::add_channel_bias(c.batch * c.channels, c.channels, c.plane, device_bias.data(),
                           device_data.data());
    std::vector<float> expected = data;
    for (int64_t i = 0; i < n; ++i) expected[i] += bias[(i / c.plane) % c.channels];
    EXPECT_EQ(device_data.download(), expected) << "plane " << c.plane;
  }
}

// SmoothGrad's noise drawn on the GPU: the CPU's Philox stream, windows starting inside a block
// included. The two may differ in the last bit of a double's log / sin / cos, which rounding
// to float hides in all but rare draws: at most one float ulp apart.
TEST_F(Cuda, NormalNoiseIsTheCpusStream) {
  for (const auto& [first, count] : {std::pair<uint64_t, int64_t>{0, 150528}, {3, 1001}, {5, 2}}) {
    std::vector<float> expected(static_cast<size_t>(count));
    cpu::fill_normal(42, first, count, 0.3, expected.data());
    auto out = poisoned(count);
    cuda::fill_normal(42, first, count, 0.3, out.data());
    const auto got = out.download();
    for (int64_t i = 0; i < count; ++i)
      ASSERT_LE(std::abs(got[i] - expected[i]),
                std::abs(expected[i]) * std::numeric_limits<float>::epsilon())
          << "draw " << first + uint64_t(i);
  }
}

// Integrated Gradients' batched path points and weighted sum: fused multiply-adds on both
// devices, so the same bits.
TEST_F(Cuda, ScaledCopiesAndWeightedRowsEqualTheCpuKernels) {
  const int64_t n = 3001, rows = 3;
  const auto base = random_floats(n, 35), direction = random_floats(n, 36);
  const auto batch = random_floats(n * rows, 37), start = random_floats(n, 38);
  const std::vector<float> scales{0.1f, -0.7f, 1.3f}, weights{0.25f, -1.5f, 3.0f};
  const cuda::DeviceArray<float> db(base), dd(direction), dbatch(batch);
  std::vector<float> expected(n * rows);
  auto out = poisoned(n * rows);
  cuda::scaled_copies(n, db.data(), dd.data(), scales.data(), rows, out.data());
  cpu::scaled_copies(n, base.data(), direction.data(), scales.data(), rows, expected.data());
  EXPECT_EQ(out.download(), expected);
  cuda::DeviceArray<float> accumulator(start);
  cuda::accumulate_weighted_rows(n, dbatch.data(), weights.data(), rows, accumulator.data());
  expected = start;
  cpu::accumulate_weighted_rows(n, batch.data(), weights.data(), rows, expected.data());
  EXPECT_EQ(accumulator.download(), expected);
}

TEST_F(Cuda, BatchNormForwardAndFrozenBackwardMatchTheCpuKernels) {
  const cpu::BatchNormGeometry g{.batch = 3, .channels = 7, .plane = 45};
  const int64_t n = g.batch * g.channels * g.plane;
  const auto x = random_floats(n, 9), grad = random_floats(n, 10);
  const auto mean = random_floats(g.channels, 11), weight = random_floats(g.channels, 12),
             bias = random_floats(g.channels, 13);
  std::vector<float> inv_std = random_floats(g.channels, 14);
  for (float& v : inv_std) v = 1.0f / (1.0f + std::abs(v));
  const cuda::DeviceArray<float> dx(x), dgrad(grad), dmean(mean), dinv(inv_std), dw(weight),
      db(bias);
  std::vector<float> expected(n);
  auto out = poisoned(n);
  cuda::batch_norm_forward(g, dx.data(), dmean.data(), dinv.data(), dw.data(), db.data(),
                           out.data());
  cpu::batch_norm_forward(g, x.data(), mean.data(), inv_std.data(), weight.data(), bias.data(),
                          expected.data());
  const auto got = out.download();
  for (int64_t i = 0; i < n; ++i)  // x * scale + shift: fused or not, one rounding apart
    ASSERT_NEAR(got[i], expected[i], 4e-7 * (std::abs(expected[i]) + 4.0f)) << "element " << i;

  auto back = poisoned(n);
  cuda::batch_norm_backward_input_frozen(g, dgrad.data(), dinv.data(), dw.data(), back.data());
  cpu::batch_norm_backward_input_frozen(g, grad.data(), inv_std.data(), weight.data(),
                                        expected.data());
  EXPECT_EQ(back.download(), expected);  // the same scale, one multiplication
}

TEST_F(Cuda, MaxAndAdaptiveAveragePoolingEqualTheCpuKernels) {
  // ResNet's stem pool (3x3, stride 2, pad 1) on an odd size, with ties from rounding the
  // inputs to a coarse grid, so the first-of-equals rule is exercised.
  const cpu::PoolGeometry g{.planes = 6,
                            .in_h = 15,
                            .in_w = 13,
                            .kernel_h = 3,
                            .kernel_w = 3,
                            .stride_h = 2,
                            .stride_w = 2,
                            .pad_h = 1,
                            .pad_w = 1};
  const int64_t in_size = g.planes * g.in_h * g.in_w, out_size = g.planes * g.out_h() * g.out_w();
  std::vector<float> x = random_floats(in_size, 15);
  for (float& v : x) v = std::round(v * 2.0f) / 2.0f;
  const auto grad = random_floats(out_size, 16);
  std::vector<float> y(out_size), dx(in_size);
  std::vector<int32_t> argmax(out_size);
  cpu::max_pool2d_forward(g, x.data(), y.data(), argmax.data());
  cpu::max_pool2d_backward(g, grad.data(), argmax.data(), dx.data());
  const cuda::DeviceArray<float> device_x(x), device_grad(grad);
  cuda::DeviceArray<int32_t> device_argmax(out_size);
  auto device_y = poisoned(out_size), device_dx = poisoned(in_size);
  cuda::max_pool2d_forward(g, device_x.data(), device_y.data(), device_argmax.data());
  cuda::max_pool2d_backward(g, device_grad.data(), device_argmax.data(), device_dx.data());
  EXPECT_EQ(device_y.download(), y);
  EXPECT_EQ(device_argmax.download(), argmax);
  EXPECT_EQ(device_dx.download(), dx);

  // Adaptive average: the global pool before ResNet's fc, and uneven 5 -> 3 windows.
  for (auto [out_h, out_w] : {std::pair<int64_t, int64_t>{1, 1}, {3, 2}}) {
    std::vector<float> pooled(g.planes * out_h * out_w), back(in_size);
    const auto upstream = random_floats(g.planes * out_h * out_w, 17);
    cpu::adaptive_avg_pool2d_forward(g.planes, g.in_h, g.in_w, out_h, out_w, x.data(),
                                     pooled.data());
    cpu::adaptive_avg_pool2d_backward(g.planes, g.in_h, g.in_w, out_h, out_w, upstream.data(),
                                      back.data());
    const cuda::DeviceArray<float> device_upstream(upstream);
    auto device_pooled = poisoned(g.planes * out_h * out_w), device_back = poisoned(in_size);
    cuda::adaptive_avg_pool2d_forward(g.planes, g.in_h, g.in_w, out_h, out_w, device_x.data(),
                                      device_pooled.data());
    cuda::adaptive_avg_pool2d_backward(g.planes, g.in_h, g.in_w, out_h, out_w,
                                       device_upstream.data(), device_back.data());
    EXPECT_EQ(device_pooled.download(), pooled) << out_h << "x" << out_w;
    EXPECT_EQ(device_back.download(), back) << out_h << "x" << out_w;
  }
}

TEST_F(Cuda, LinearForwardAndBackwardsMatchTheCpuInFloat64) {
  const cpu::LinearGeometry g{.batch = 3, .in_features = 2048, .out_features = 37};
  const auto x = random_floats(g.batch * g.in_features, 18),
             w = random_floats(g.out_features * g.in_features, 19),
             b = random_floats(g.out_features, 20),
             dy = random_floats(g.batch * g.out_features, 21);
  const cuda::DeviceArray<float> dx(x), dw(w), db(b), ddy(dy);
  auto y = poisoned(g.batch * g.out_features), grad = poisoned(g.batch * g.in_features);
  cuda::linear_forward(g, dx.data(), dw.data(), db.data(), y.data());
  cuda::linear_backward_input(g, ddy.data(), dw.data(), grad.data());
  // Exact values and magnitudes (sums of |terms|) from the CPU kernel in float64.
  std::vector<double> exact(g.batch * g.out_features), magnitude(exact.size());
  const auto wide_b = testing::widened(b, false), abs_b = testing::widened(b, true);
  cpu::linear_forward<double>(g, testing::widened(x, false).data(),
                              testing::widened(w, false).data(), wide_b.data(), exact.data());
  cpu::linear_forward<double>(g, testing::widened(x, true).data(), testing::widened(w, true).data(),
                              abs_b.data(), magnitude.data());
  testing::expect_within_float_bound(y.download(), exact, magnitude, g.in_features + 1);
  exact.assign(g.batch * g.in_features, 0.0);
  magnitude.assign(exact.size(), 0.0);
  cpu::linear_backward_input<double>(g, testing::widened(dy, false).data(),
                                     testing::widened(w, false).data(), exact.data());
  cpu::linear_backward_input<double>(g, testing::widened(dy, true).data(),
                                     testing::widened(w, true).data(), magnitude.data());
  testing::expect_within_float_bound(grad.download(), exact, magnitude, g.out_features);

  // The parameters' gradients: the weight's within the bound, the bias's bit for bit.
  auto grad_weight = poisoned(g.out_features * g.in_features), grad_bias = poisoned(g.out_features);
  cuda::linear_backward_weight(g, ddy.data(), dx.data(), grad_weight.data());
  cuda::linear_backward_bias(g, ddy.data(), grad_bias.data());
  exact.assign(g.out_features * g.in_features, 0.0);
  magnitude.assign(exact.size(), 0.0);
  cpu::linear_backward_weight<double>(g, testing::widened(dy, false).data(),
                                      testing::widened(x, false).data(), exact.data());
  cpu::linear_backward_weight<double>(g, testing::widened(dy, true).data(),
                                      testing::widened(x, true).data(), magnitude.data());
  testing::expect_within_float_bound(grad_weight.download(), exact, magnitude, g.batch);
  std::vector<float> expected_bias(g.out_features);
  cpu::linear_backward_bias(g, dy.data(), expected_bias.data());
  EXPECT_EQ(grad_bias.download(), expected_bias);
}

// The Vision Transformer's ops through the Tensor API, on the GPU against the CPU: copies and
// broadcast sums bit for bit (the same arithmetic in the same order), layer norm, softmax, GELU
// and matmul within float rounding (exp, erf and cuBLAS's summation order differ), forward and
// backward.
Tensor on_gpu_leaf(const Tensor& host) {
  Tensor leaf = host.to(Device::cuda());
  leaf.set_requires_grad(true);
  return leaf;
}

Tensor host_leaf(const Tensor& host) {
  Tensor leaf = host.clone();
  leaf.set_requires_grad(true);
  return leaf;
}

Tensor random_tensor(const Shape& shape, uint32_t seed) {
  const auto values = random_floats(shape.numel(), seed);
  Tensor t = Tensor::empty(shape);
  std::copy(values.begin(), values.end(), t.data<float>());
  return t;
}

// f on both devices, and the gradients of sum(f * weights) with respect to every input.
template <typename Fn>
void expect_same_on_both_devices(const std::vector<Tensor>& inputs, Fn f, double tolerance,
                                 const char* what) {
  std::vector<Tensor> host, device;
  for (const Tensor& x : inputs) {
    host.push_back(host_leaf(x));
    device.push_back(on_gpu_leaf(x));
  }
  const Tensor expected = f(host), got = f(device);
  ASSERT_TRUE(got.device().is_cuda()) << what;
  const Tensor weights = random_tensor(expected.shape(), 99);
  const auto cpu_grads = autograd::grad(sum(mul(expected, weights)), host);
  const auto gpu_grads =
      autograd::grad(sum(to_device(mul(got, weights.to(Device::cuda())), Device::cpu())), device);
  const auto check = [&](const Tensor& a, const Tensor& b, const std::string& name) {
    const std::vector<double> x = a.to_vector(), y = b.to(Device::cpu()).to_vector();
    ASSERT_EQ(x.size(), y.size()) << what << " " << name;
    if (tolerance == 0) {
      EXPECT_EQ(x, y) << what << " " << name;
      return;
    }
    double error = 0, norm = 0;
    for (size_t i = 0; i < x.size(); ++i)
      error += (x[i] - y[i]) * (x[i] - y[i]), norm += x[i] * x[i];
    EXPECT_LE(std::sqrt(error / std::max(norm, 1e-30)), tolerance) << what << " " << name;
  };
  check(expected, got, "forward");
  for (size_t i = 0; i < inputs.size(); ++i)
    check(cpu_grads[i], gpu_grads[i], "gradient " + std::to_string(i));
}

TEST_F(Cuda, CopiesAndBroadcastsOfTheVitMatchTheCpuBitForBit) {
  const Tensor x = random_tensor({2, 3, 4, 5}, 40), row = random_tensor({4, 1}, 41);
  const Tensor other = random_tensor({2, 2, 4, 5}, 42);
  expect_same_on_both_devices(
      {x},
      [](const auto& in) {
        return permute(in[0], {2, 0, 3, 1});
      },
      0, "permute");
  expect_same_on_both_devices(
      {x}, [](const auto& in) { return select(in[0], 1, 2); }, 0, "select");
  expect_same_on_both_devices(
      {x}, [](const auto& in) { return narrow(in[0], 3, 1, 3); }, 0, "narrow");
  expect_same_on_both_devices(
      {x, other},
      [](const auto& in) {
        return concat({in[0], in[1]}, 1);
      },
      0, "concat");
  // Broadcasting both ways, and the sums that take its gradient back to each operand's shape.
  expect_same_on_both_devices(
      {x, row}, [](const auto& in) { return add(in[0], in[1]); }, 0, "broadcast add");
  expect_same_on_both_devices(
      {x, row}, [](const auto& in) { return mul(in[1], in[0]); }, 0, "broadcast mul");
  expect_same_on_both_devices(
      {x},
      [](const auto& in) {
        return mean(in[0], {0, 2}, true);
      },
      0, "mean");
}

TEST_F(Cuda, LayerNormSoftmaxGeluAndMatmulMatchTheCpu) {
  const Tensor x = random_tensor({3, 5, 16}, 43), w = random_tensor({16}, 44),
               b = random_tensor({16}, 45);
  expect_same_on_both_devices(
      {x, w, b}, [](const auto& in) { return layer_norm(in[0], in[1], in[2], 1e-6); }, 1e-6,
      "layer_norm");
  expect_same_on_both_devices(
      {x}, [](const auto& in) { return softmax(in[0], 2); }, 1e-6, "softmax");
  expect_same_on_both_devices(
      {x}, [](const auto& in) { return softmax(in[0], 1); }, 1e-6, "softmax inner");
  expect_same_on_both_devices(
      {x}, [](const auto& in) { return log_softmax(in[0], 2); }, 1e-6, "log_softmax");
  expect_same_on_both_devices(
      {x}, [](const auto& in) { return gelu(in[0]); }, 1e-6, "gelu");
  const Tensor a = random_tensor({2, 3, 5, 7}, 46), c = random_tensor({2, 3, 7, 4}, 47);
  expect_same_on_both_devices(
      {a, c}, [](const auto& in) { return matmul(in[0], in[1]); }, 1e-6, "matmul");
}

// Resizing up and down, both modes: the CPU's per-pixel and per-plane code run on the GPU, so
// the gradients (a scatter in the CPU's order) are the same bits; bilinear values may differ in
// one rounding where nvcc fuses a multiply-add.
TEST_F(Cuda, ResizeMatchesTheCpu) {
  const Tensor x = random_tensor({2, 3, 7, 5}, 54);
  for (const auto& [h, w] : {std::pair<int64_t, int64_t>{16, 11}, {3, 2}}) {
    expect_same_on_both_devices(
        {x}, [h, w](const auto& in) { return resize_nearest(in[0], h, w); }, 0, "nearest");
    expect_same_on_both_devices(
        {x}, [h, w](const auto& in) { return resize_bilinear(in[0], h, w); }, 1e-7, "bilinear");
  }
}

// The Gaussian blur (baselines, deletion's substrate): the CPU's line code on the GPU; sums may
// differ in one rounding where nvcc fuses a multiply-add.
TEST_F(Cuda, GaussianBlurMatchesTheCpu) {
  const Tensor x = random_tensor({2, 3, 9, 12}, 55);
  for (const int64_t taps : {3, 7})
    expect_same_on_both_devices(
        {x}, [taps](const auto& in) { return gaussian_blur(in[0], taps, 1.5); }, 1e-6, "blur");
}

// Training's gradients through the Tensor API: a convolution's and a linear layer's weights and
// biases, on the GPU as on the CPU.
TEST_F(Cuda, ParameterGradientsMatchTheCpu) {
  const Tensor x = random_tensor({2, 3, 9, 8}, 48), w = random_tensor({4, 3, 3, 3}, 49),
               b = random_tensor({4}, 50);
  expect_same_on_both_devices(
      {x, w, b}, [](const auto& in) { return conv2d(in[0], in[1], in[2], {.padding = 1}); }, 1e-6,
      "conv2d");
  const Tensor rows = random_tensor({5, 7}, 51), lw = random_tensor({3, 7}, 52),
               lb = random_tensor({3}, 53);
  expect_same_on_both_devices(
      {rows, lw, lb}, [](const auto& in) { return linear(in[0], in[1], in[2]); }, 1e-6, "linear");
}

// What training adds to inference: average pooling (padded, with and without counting the
// padding), BatchNorm on batch statistics (its gradients through mean and variance, and its own
// weight and bias) and the cross-entropy loss. Pooling is bit for bit (same sums in the same
// order); BatchNorm's channel sums are a tree on the GPU and a loop on the CPU, and the loss's
// exp is the device's, so those are held to float rounding.
TEST_F(Cuda, TrainingOpsMatchTheCpu) {
  const Tensor x = random_tensor({2, 3, 9, 8}, 54);
  for (bool count_include_pad : {true, false})
    expect_same_on_both_devices(
        {x},
        [count_include_pad](const auto& in) {
          return avg_pool2d(
              in[0],
              {.kernel = 3, .stride = 2, .padding = 1, .count_include_pad = count_include_pad});
        },
        0, count_include_pad ? "avg_pool2d counting the padding" : "avg_pool2d");

  const Tensor gamma = random_tensor({3}, 55), beta = random_tensor({3}, 56);
  std::vector<Tensor> running;  // mean and variance, per device, updated by the forward
  expect_same_on_both_devices(
      {x, gamma, beta},
      [&running](const auto& in) {
        const Device device = in[0].device();
        const Tensor mean = zeros({3}).to(device), variance = ones({3}).to(device);
        running.insert(running.end(), {mean, variance});
        return batch_norm2d(in[0], in[1], in[2], mean, variance, {.training = true});
      },
      1e-6, "batch_norm2d (training)");
  ASSERT_EQ(running.size(), 4u);
  for (int k = 0; k < 2; ++k) {
    const std::vector<double> host = running[size_t(k)].to_vector();
    const std::vector<double> device = running[size_t(k) + 2].to(Device::cpu()).to_vector();
    for (size_t c = 0; c < host.size(); ++c)
      EXPECT_NEAR(device[c], host[c], 1e-6 * (1 + std::abs(host[c])))
          << (k == 0 ? "running mean " : "running variance ") << c;
  }

  const Tensor logits = random_tensor({4, 10}, 57);
  for (double smoothing : {0.0, 0.1})
    expect_same_on_both_devices(
        {logits},
        [smoothing](const auto& in) {
          return cross_entropy(in[0], {3, 0, 9, 3}, smoothing);
        },
        1e-6, smoothing == 0 ? "cross_entropy" : "cross_entropy with label smoothing");
}

// The kernels under training's BatchNorm, on a batch whose channel sums span many blocks'
// worth of threads (ResNet's 56 x 56 maps), against the CPU's loops in double.
TEST_F(Cuda, BatchNormStatisticsAndBatchGradientsMatchTheCpuKernels) {
  const cpu::BatchNormGeometry g{.batch = 2, .channels = 5, .plane = 56 * 56};
  const int64_t n = g.batch * g.channels * g.plane;
  std::vector<float> x = random_floats(n, 58);
  for (float& v : x) v = 3.0f + 2.0f * v;  // an offset mean: the two-pass variance matters
  const auto grad = random_floats(n, 59), weight = random_floats(g.channels, 60);
  std::vector<float> mean(g.channels), variance(g.channels), inv_std(g.channels);
  cpu::batch_norm_statistics(g, x.data(), mean.data(), variance.data());
  for (int64_t c = 0; c < g.channels; ++c) inv_std[c] = 1.0f / std::sqrt(variance[c] + 1e-5f);
  const cuda::DeviceArray<float> dx(x), dgrad(grad), dweight(weight), dmean(mean), dinv(inv_std);
  auto device_mean = poisoned(g.channels), device_variance = poisoned(g.channels);
  cuda::batch_norm_statistics(g, dx.data(), device_mean.data(), device_variance.data());
  const auto close = [](const std::vector<float>& got, const std::vector<float>& want,
                        double tolerance, const char* what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    for (size_t i = 0; i < got.size(); ++i)
      ASSERT_NEAR(got[i], want[i], tolerance * (std::abs(want[i]) + 1.0)) << what << " " << i;
  };
  close(device_mean.download(), mean, 1e-6, "mean");
  close(device_variance.download(), variance, 1e-6, "variance");

  std::vector<float> expected(n), grad_weight(g.channels), grad_bias(g.channels);
  cpu::batch_norm_backward_input_batch_stats(g, grad.data(), x.data(), mean.data(), inv_std.data(),
                                             weight.data(), expected.data());
  cpu::batch_norm_backward_params(g, grad.data(), x.data(), mean.data(), inv_std.data(),
                                  grad_weight.data(), grad_bias.data());
  auto back = poisoned(n), device_gw = poisoned(g.channels), device_gb = poisoned(g.channels);
  cuda::batch_norm_backward_input_batch_stats(g, dgrad.data(), dx.data(), dmean.data(), dinv.data(),
                                              dweight.data(), back.data());
  cuda::batch_norm_backward_params(g, dgrad.data(), dx.data(), dmean.data(), dinv.data(),
                                   device_gw.data(), device_gb.data());
  close(back.download(), expected, 1e-5, "input gradient");
  close(device_gw.download(), grad_weight, 1e-5, "weight gradient");
  close(device_gb.download(), grad_bias, 1e-5, "bias gradient");
}

class CudaConv : public Cuda, public ::testing::WithParamInterface<testing::KernelConvCase> {};

TEST_P(CudaConv, ForwardAndBackwardsMatchTheCpuInFloat64) {
  const cpu::Conv2dGeometry& g = GetParam().geometry;
  const int64_t in_size = g.batch * g.in_channels * g.in_h * g.in_w;
  const int64_t out_size = g.batch * g.out_channels * g.out_h() * g.out_w();
  const auto x = random_floats(in_size, 6), w = random_floats(g.out_channels * g.patch_size(), 7),
             dy = random_floats(out_size, 8);
  const auto b = random_floats(g.out_channels, 9);
  const cuda::DeviceArray<float> dx(x), dw(w), ddy(dy), db(b);
  const int64_t plane = g.out_h() * g.out_w();
  for (const cuda::ConvLayout layout : {cuda::ConvLayout::PerImage, cuda::ConvLayout::Wide}) {
    SCOPED_TRACE(layout == cuda::ConvLayout::Wide ? "wide" : "per image");
    auto y = poisoned(out_size);
    cuda::conv2d_forward(g, dx.data(), dw.data(), static_cast<const float*>(nullptr), y.data(),
                         layout);
    const auto plain = y.download();
    testing::expect_conv_forward_within_bound(g, x, w, plain);
    // The bias: one addition after the sum, whichever way it goes in.
    y = poisoned(out_size);
    cuda::conv2d_forward(g, dx.data(), dw.data(), db.data(), y.data(), layout);
    const auto biased = y.download();
    for (int64_t i = 0; i < out_size; ++i)
      ASSERT_EQ(biased[i], plain[i] + b[i / plane % g.out_channels]) << "element " << i;

    auto grad = poisoned(in_size);
    cuda::conv2d_backward_input(g, ddy.data(), dw.data(), grad.data(), layout);
    testing::expect_conv_backward_input_within_bound(g, dy, w, grad.download());
  }
  // The parameters' gradients: the weight's within the bound, the bias's bit for bit (the same
  // sums in the same order).
  auto grad_weight = poisoned(g.out_channels * g.patch_size()),
       grad_bias = poisoned(g.out_channels);
  cuda::conv2d_backward_weight(g, ddy.data(), dx.data(), grad_weight.data());
  testing::expect_conv_backward_weight_within_bound(g, dy, x, grad_weight.download());
  cuda::conv2d_backward_bias(g, ddy.data(), grad_bias.data());
  std::vector<float> expected_bias(g.out_channels);
  cpu::conv2d_backward_bias(g, dy.data(), expected_bias.data());
  EXPECT_EQ(grad_bias.download(), expected_bias);
  cuda::synchronize("conv2d test");
}

INSTANTIATE_TEST_SUITE_P(Shapes, CudaConv, ::testing::ValuesIn(testing::kernel_conv_cases()),
                         testing::case_name);

TEST(CudaConvGeometry, OnlyGroupedConvolutionsAreRefused) {
  const cpu::Conv2dGeometry plain = testing::small_3x3_geometry();
  cpu::Conv2dGeometry dilated = plain, grouped = plain, strided = plain, huge = plain;
  dilated.dilation_h = 2;
  grouped.groups = 2;
  strided.stride_h = strided.stride_w = 2;
  huge.kernel_h = huge.kernel_w = 9;
  huge.in_h = huge.in_w = 16;
  EXPECT_FALSE(cuda::conv2d_supported(grouped));
  for (const cpu::Conv2dGeometry& g : {plain, strided, dilated, huge})
    EXPECT_EQ(cuda::conv2d_supported(g), cuda::built_with_cuda());
}

// Beyond the shared cases: dilation, padding as large as the kernel, and a batch whose column
// matrices (104 MB an image) exceed the 256 MB budget, so it runs in chunks of 2 and 1.
TEST_F(Cuda, ConvolutionsDilatedPaddedAndChunkedMatchTheCpuInFloat64) {
  const cpu::Conv2dGeometry cases[] = {
      {.batch = 2,
       .in_channels = 3,
       .in_h = 11,
       .in_w = 10,
       .out_channels = 5,
       .kernel_h = 3,
       .kernel_w = 3,
       .pad_h = 2,
       .pad_w = 2,
       .dilation_h = 2,
       .dilation_w = 3},
      {.in_channels = 2,
       .in_h = 4,
       .in_w = 5,
       .out_channels = 3,
       .kernel_h = 3,
       .kernel_w = 2,
       .stride_h = 2,
       .pad_h = 3,
       .pad_w = 2},
      {.batch = 3,
       .in_channels = 32,
       .in_h = 300,
       .in_w = 300,
       .out_channels = 2,
       .kernel_h = 3,
       .kernel_w = 3,
       .pad_h = 1,
       .pad_w = 1},
  };
  for (const cpu::Conv2dGeometry& g : cases) {
    const int64_t in_size = g.batch * g.in_channels * g.in_h * g.in_w;
    const int64_t out_size = g.batch * g.out_channels * g.out_h() * g.out_w();
    const auto x = random_floats(in_size, 9),
               w = random_floats(g.out_channels * g.patch_size(), 10),
               dy = random_floats(out_size, 11);
    const cuda::DeviceArray<float> dx(x), dw(w), ddy(dy);
    for (const cuda::ConvLayout layout : {cuda::ConvLayout::PerImage, cuda::ConvLayout::Wide}) {
      SCOPED_TRACE(layout == cuda::ConvLayout::Wide ? "wide" : "per image");
      auto y = poisoned(out_size), grad = poisoned(in_size);
      cuda::conv2d_forward(g, dx.data(), dw.data(), static_cast<const float*>(nullptr), y.data(),
                           layout);
      cuda::conv2d_backward_input(g, ddy.data(), dw.data(), grad.data(), layout);
      testing::expect_conv_forward_within_bound(g, x, w, y.download());
      testing::expect_conv_backward_input_within_bound(g, dy, w, grad.download());
    }
  }
}

}  // namespace
}  // namespace saliency
