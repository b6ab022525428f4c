// Opt-in: a full-size ResNet-50 against PyTorch in float64. tests/reference/full_resnet50_check.py
// (ctest reference.full_resnet50, added where torch is installed) writes a seeded torchvision
// ResNet-50 with torch.save, an input, PyTorch's float64 logits and input gradient of the top
// logit, and PyTorch's own float32 errors, then runs this test with SALIENCY_FULL_RESNET50_DIR
// set. Without it the test skips.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "autograd/engine.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "saliency/predict.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

using testing::relative_l2;

// Two float32 implementations that sum in different orders make errors of the same size
// against float64 (gradients: pre-activations within rounding of zero flip ReLUs either way),
// so ours may be at most 3x PyTorch's own, measured on the same model and input.
TEST(FullResNet50, LogitsAndInputGradientMatchPyTorchFloat64) {
  const char* dir = std::getenv("SALIENCY_FULL_RESNET50_DIR");
  if (dir == nullptr) GTEST_SKIP() << "run through ctest reference.full_resnet50 (needs torch)";
  const std::string base = std::string(dir) + "/";
  const auto model = load_resnet(base + "resnet50_random.pth", "resnet50");
  Tensor image = weights::read_npy(base + "input.npy").set_requires_grad(true);
  const Tensor logits = model->forward(image);
  const std::vector<double> row = logits.to_vector();
  const int64_t top = std::max_element(row.begin(), row.end()) - row.begin();
  Tensor seed = zeros(logits.shape());
  seed.set({0, top}, 1.0);
  autograd::backward(logits, seed);

  const std::vector<double> torch_errors =
      weights::read_npy(base + "torch_float32_error.npy").to_vector();
  const double logit_error = relative_l2(logits, weights::read_npy(base + "logits64.npy"));
  const double gradient_error =
      relative_l2(image.grad(), weights::read_npy(base + "input_grad64.npy"));
  std::printf(
      "full ResNet-50 vs float64, relative L2: logits %.2e (PyTorch float32 %.2e), "
      "input gradient %.2e (PyTorch float32 %.2e)\n",
      logit_error, torch_errors[0], gradient_error, torch_errors[1]);
  EXPECT_LE(logit_error, std::max(3 * torch_errors[0], 1e-6));
  EXPECT_LE(gradient_error, std::max(3 * torch_errors[1], 1e-6));
}

}  // namespace
}  // namespace saliency
