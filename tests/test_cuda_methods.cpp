// Models and saliency methods on the GPU against the same on the CPU: the tiny torchvision-layout
// ResNet-50, VGG and ViT fixtures, every method `--device cuda` offers (LRP with both presets,
// attention rollout), with BatchNorm as loaded (its CUDA kernel) and folded into the convolutions
// (the conv bias kernel), plus the device choice and its refusals. The CUDA tests skip, saying why,
// without a GPU; scripts/gpu-check.sh runs them on a machine with one. The DeviceChoice tests run
// everywhere.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "kernels/cuda/runtime.h"
#include "saliency/methods.h"
#include "saliency/predict.h"
#include "training_steps.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

namespace cuda = kernels::cuda;
using testing::relative_l2;

std::string fixture(const std::string& name) {
  return SALIENCY_FIXTURE_DIR "/" + name;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class CudaMethods : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda::built_with_cuda()) GTEST_SKIP() << "this build has no CUDA (SALIENCY_CUDA=OFF)";
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device on this machine";
  }
};

// One model loaded twice, one copy moved to the GPU; folded (as the tools run it) or not.
struct TwoCopies {
  LoadedModel on_cpu, on_gpu;
  TwoCopies(const std::string& file, bool folded)
      : on_cpu(load_model(fixture(file))), on_gpu(load_model(fixture(file))) {
    if (folded) {
      prepare_for(on_cpu, {});
      prepare_for(on_gpu, {});
    }
    move_to(on_gpu, Device::cuda());
  }
};

MethodOptions small_options(const LoadedModel& model) {
  MethodOptions options;
  adapt_options(options, model);
  options.smoothgrad.samples = 5;  // the seed's Philox stream: the same noise on both devices
  options.integrated_gradients.steps = 8;
  options.batch_size = 3;  // chunks of unequal size
  return options;
}

// The summation order of the GPU's convolutions differs from the CPU's: float32 rounding,
// a relative L2 error of order 1e-7 per layer. The bound for every op is 1e-4.
constexpr double kDeviceTolerance = 1e-4;

// Every method `--device cuda` offers; LRP (both presets) on folded models only, as the tools
// run it (its rules refuse an unfolded BatchNorm on either device).
void expect_methods_match(const TwoCopies& models, bool folded, const Tensor& input,
                          const std::string& what) {
  const Classifier cpu = classifier_on(*models.on_cpu.network, Device::cpu());
  const Classifier gpu = classifier_on(*models.on_gpu.network, Device::cuda());
  MethodOptions options = small_options(models.on_cpu);
  MethodOptions on_device = options;  // IG's path points and sums on the GPU too
  on_device.device = Device::cuda();
  {
    autograd::NoGradGuard inference;
    const Tensor logits = gpu(input);
    EXPECT_TRUE(logits.device().is_cpu());
    EXPECT_LT(relative_l2(logits, cpu(input)), kDeviceTolerance) << what << ": logits";
  }
  const int64_t target = top_class(cpu, input);
  const auto compare = [&](Method method, const std::string& name) {
    const Explanation expected = explain(cpu, input, method, target, options);
    const Explanation ours = explain(gpu, input, method, target, on_device);
    ASSERT_TRUE(ours.attribution.device().is_cpu());
    const double error = relative_l2(ours.attribution, expected.attribution);
    std::printf("%s %s: relative L2 %.1e\n", what.c_str(), name.c_str(), error);
    EXPECT_LT(error, kDeviceTolerance) << what << " " << name;
    if (!std::isnan(expected.delta)) {
      EXPECT_NEAR(ours.delta, expected.delta, 1e-4) << what;
    }
  };
  for (Method method : supported_methods(*models.on_gpu.network)) {
    if (method != Method::Lrp) compare(method, method_name(method));
  }
  if (!folded) return;
  for (const std::string preset : {"epsilon-plus-flat", "epsilon-gamma-box"}) {
    options.lrp.preset = on_device.lrp.preset = preset;
    compare(Method::Lrp, "lrp " + preset);
  }
}

TEST_F(CudaMethods, ResNetMethodsOnTheGpuMatchTheCpu) {
  const Tensor input = weights::read_npy(fixture("methods_input.npy"));
  for (bool folded : {false, true})
    expect_methods_match(TwoCopies("tiny_resnet50.safetensors", folded), folded, input,
                         folded ? "resnet50 folded" : "resnet50 with batch norm");
}

TEST_F(CudaMethods, VggMethodsOnTheGpuMatchTheCpu) {
  const Tensor input =
      reshape(weights::read_npy(fixture("resnet_input.npy")).select_batch(0), {1, 3, 40, 36});
  for (const std::string name : {"tiny_vgg", "tiny_vgg_bn"})
    for (bool folded : {false, true})
      expect_methods_match(TwoCopies("vgg/" + name + ".safetensors", folded), folded, input,
                           name + (folded ? " folded" : ""));
}

// The Vision Transformer: layer norm, attention (batched matmuls, softmax), GELU, the class
// token's concatenation and the position embedding's broadcast add, forward and backward, and
// attention rollout from the GPU's attention maps.
TEST_F(CudaMethods, VitMethodsOnTheGpuMatchTheCpu) {
  const Tensor input = weights::read_npy(fixture("vit/input.npy")).slice_batch(0, 1);
  expect_methods_match(TwoCopies("vit/tiny_vit.safetensors", false), false, input, "tiny_vit");
}

// to_device is differentiable both ways: a host leaf gets its gradient back on the host.
TEST_F(CudaMethods, GradientsFlowBackAcrossTheCopy) {
  Tensor x = Tensor::empty({2, 3});
  for (int64_t i = 0; i < 6; ++i) x.data<float>()[i] = float(i) - 2.5f;
  x.set_requires_grad(true);
  const Tensor on_gpu = relu(scale_shift(to_device(x, Device::cuda()), 3.0, 0.0));
  EXPECT_TRUE(on_gpu.device().is_cuda());
  const Tensor back = to_device(on_gpu, Device::cpu());
  const Tensor gradient = autograd::grad(sum(back), {x})[0];
  ASSERT_TRUE(gradient.device().is_cpu());
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(gradient.data<float>()[i], i >= 3 ? 3.0f : 0.0f);
}

// Training on the GPU: two SGD steps of the tiny ResNet-18 layout (BatchNorm on batch
// statistics, every weight gradient, average pooling, the cross-entropy loss, the optimizer's
// update through the host) give PyTorch's parameters and running statistics, as the CPU does in
// Training.TwoSgdStepsOfAResNetMatchPyTorch, with the same fixtures and tolerance.
TEST_F(CudaMethods, TwoSgdStepsOfAResNetOnTheGpuMatchPyTorch) {
  testing::expect_two_sgd_steps_match_pytorch(Device::cuda());
}

// What has no CUDA kernel says so, naming the op and the device, instead of reading device
// memory on the host.
TEST_F(CudaMethods, OpsWithoutAKernelRefuseTheDeviceByName) {
  const Tensor x = ones({1, 2, 4, 4}).to(Device::cuda());
  try {  // grouped convolutions have no CUDA kernel (a valid layer on the CPU)
    (void)conv2d(x, ones({4, 1, 3, 3}).to(Device::cuda()), {}, {.padding = 1, .groups = 2});
    ADD_FAILURE() << "a grouped convolution on the GPU should throw";
  } catch (const InvalidArgument& e) {
    EXPECT_TRUE(contains(e.what(), "grouped") && contains(e.what(), "cuda:0")) << e.what();
  }
}

TEST(DeviceChoice, NamesAreParsedAndAMissingGpuIsAClearError) {
  EXPECT_EQ(parse_device("cpu"), Device::cpu());
  try {
    (void)parse_device("tpu");
    ADD_FAILURE() << "tpu should be refused";
  } catch (const InvalidArgument& e) {
    EXPECT_TRUE(contains(e.what(), "expected cpu or cuda")) << e.what();
  }
  if (cuda::device_count() > 0) {
    EXPECT_EQ(parse_device("cuda"), Device::cuda());
  } else {
    try {
      (void)parse_device("cuda");
      ADD_FAILURE() << "cuda without a device should be refused";
    } catch (const InvalidArgument& e) {
      EXPECT_TRUE(contains(e.what(), "no CUDA device") || contains(e.what(), "has no CUDA"))
          << e.what();
    }
  }
}

// --method all offers LRP for ResNets and attention rollout for models with attention, on either
// device (every method has a CUDA path).
TEST(DeviceChoice, MethodsFollowTheArchitecture) {
  const LoadedModel resnet = load_model(fixture("tiny_resnet50.safetensors"));
  const LoadedModel vit = load_model(fixture("vit/tiny_vit.safetensors"));
  const std::vector<Method> for_resnet = supported_methods(*resnet.network);
  const std::vector<Method> for_vit = supported_methods(*vit.network);
  EXPECT_EQ(std::count(for_resnet.begin(), for_resnet.end(), Method::Lrp), 1);
  EXPECT_EQ(std::count(for_resnet.begin(), for_resnet.end(), Method::AttentionRollout), 0);
  EXPECT_EQ(std::count(for_vit.begin(), for_vit.end(), Method::Lrp), 0);
  EXPECT_EQ(std::count(for_vit.begin(), for_vit.end(), Method::AttentionRollout), 1);
}

TEST(DeviceChoice, CopiesToTheSameDeviceAreTheTensorItself) {
  Tensor x = ones({2, 2});
  x.set_requires_grad(true);
  EXPECT_TRUE(to_device(x, Device::cpu()).is_same(x));
}

}  // namespace
}  // namespace saliency
