#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/allocator.h"
#include "core/error.h"
#include "core/factory.h"
#include "kernels/cuda/runtime.h"

namespace saliency {
namespace {

TEST(Tensor, FactoriesFillValues) {
  EXPECT_EQ(zeros({2, 2}).to_vector(), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(ones({3}).to_vector(), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(full({2}, 2.5, DType::Float64).to_vector(), (std::vector<double>{2.5, 2.5}));
  EXPECT_EQ(arange(0, 5, 2).to_vector(), (std::vector<double>{0, 2, 4}));
  EXPECT_EQ(arange(3, 0, -1).to_vector(), (std::vector<double>{3, 2, 1}));
  EXPECT_EQ(zeros({2, 3}).shape(), (Shape{2, 3}));
  EXPECT_EQ(zeros({2, 3}, DType::Float64).dtype(), DType::Float64);
}

TEST(Tensor, SeededRandomIsReproducibleAndDistributed) {
  Generator a(42), b(42), c(43);
  const std::vector<double> x = randn({1000}, a).to_vector();
  EXPECT_EQ(x, randn({1000}, b).to_vector());
  EXPECT_NE(x, randn({1000}, c).to_vector());
  double mean = 0, sq = 0;
  for (double v : x) mean += v / x.size();
  for (double v : x) sq += (v - mean) * (v - mean) / x.size();
  EXPECT_NEAR(mean, 0.0, 0.1);
  EXPECT_NEAR(std::sqrt(sq), 1.0, 0.1);
  Generator u(7);
  for (double v : rand({1000}, u).to_vector()) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
}

TEST(Tensor, StorageIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000, 100000}) {
    const Tensor t = zeros({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

// Without a GPU (or without CUDA in the build) a tensor on "cuda" is refused with the reason;
// tests/test_cuda_kernels.cpp moves tensors to a real device.
TEST(Tensor, DeviceStorageWithoutADeviceIsRefusedWithTheReason) {
  const Tensor host = zeros({2, 3});
  EXPECT_TRUE(host.to(Device::cpu()).is_same(host));
  if (kernels::cuda::device_count() > 0) GTEST_SKIP() << "this machine has a CUDA device";
  try {
    (void)host.to(Device::cuda());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
    EXPECT_TRUE(message.find("no CUDA device") != std::string::npos ||
                message.find("this build has no CUDA") != std::string::npos)
        << message;
  }
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = arange(0, 24).view({2, 3, 4});
  const Tensor flat = t.view({6, 4});
  const Tensor second = t.select_batch(1);
  const Tensor rows = t.slice_batch(1, 2);
  EXPECT_TRUE(flat.shares_storage_with(t));
  EXPECT_EQ(second.shape(), (Shape{3, 4}));
  EXPECT_EQ(second.at({0, 0}), 12);
  EXPECT_EQ(rows.shape(), (Shape{1, 3, 4}));
  t.set({1, 0, 0}, -1);
  EXPECT_EQ(second.at({0, 0}), -1);
  EXPECT_EQ(flat.at({3, 0}), -1);
  const Tensor copy = t.clone();
  t.set({0, 0, 0}, 99);
  EXPECT_EQ(copy.at({0, 0, 0}), 0);
  EXPECT_FALSE(copy.shares_storage_with(t));
}

TEST(Tensor, ChecksNameTheProblem) {
  const Tensor t = zeros({2, 3});
  try {
    t.view({4, 2});
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_STREQ(e.what(), "view: cannot view [2, 3] as [4, 2] (6 vs 8 elements)");
  }
  EXPECT_THROW(t.at({2, 0}), InvalidArgument);
  EXPECT_THROW(t.at({0}), InvalidArgument);
  EXPECT_THROW(t.data<double>(), InvalidArgument);
  EXPECT_THROW(t.slice_batch(1, 3), InvalidArgument);
  EXPECT_THROW(Tensor().shape(), InvalidArgument);
  EXPECT_THROW(Shape({2, -1}), InvalidArgument);
  EXPECT_THROW(Shape({1 << 30, 1 << 30, 1 << 30}).numel(), InvalidArgument);
  EXPECT_THROW(from_vector({3}, {1, 2}), InvalidArgument);
}

TEST(Tensor, DtypeConversionAndPrinting) {
  const Tensor d = from_vector({2}, {0.1, 0.2}, DType::Float64);
  const Tensor f = d.to(DType::Float32);
  EXPECT_EQ(f.dtype(), DType::Float32);
  EXPECT_FLOAT_EQ(static_cast<float>(f.at({1})), 0.2f);
  std::ostringstream text;
  text << from_vector({2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(text.str(), "Tensor([2, 2] float32 cpu)\n1 2\n3 4\n");
}

TEST(Tensor, DeviceTagIsCarried) {
  EXPECT_TRUE(zeros({1}).device().is_cpu());
  EXPECT_EQ(Device::cuda(1).str(), "cuda:1");
}

}  // namespace
}  // namespace saliency
