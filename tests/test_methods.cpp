// The saliency methods against Captum (tests/reference/make_fixtures.py runs Captum on the tiny
// ResNet-50 layout in float32 and float64) and the properties the papers promise.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "autograd/flop_counter.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "kernels/cpu/parallel.h"
#include "saliency/methods.h"
#include "saliency/predict.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

using testing::cosine_similarity;
using testing::relative_l2;

std::string fixture(const std::string& name) {
  return SALIENCY_FIXTURE_DIR "/" + name;
}

struct Reference {
  std::unique_ptr<models::ResNet> model = load_resnet(fixture("tiny_resnet50.safetensors"));
  Classifier classifier = [this](const Tensor& x) { return model->forward(x); };
  // The same model cut after its stem (Classifier::Split), as the CLI's classifier_on makes it.
  Classifier cut = classifier_on(*model, Device::cpu());
  Tensor input = weights::read_npy(fixture("methods_input.npy"));
  nlohmann::json info = nlohmann::json::parse(std::ifstream(fixture("methods.json")));
  int64_t target = info["target"];
};

Reference& reference() {
  static Reference r;
  return r;
}

struct MethodCase {
  std::string reference_name;  // method_<name>.npy and its key in methods.json
  Method method;
  std::string approximation = "gausslegendre";
  int64_t steps = 0;
  std::function<void(MethodOptions&)> adjust = [](MethodOptions&) {};
  bool cut = false;  // through Reference::cut
};

void PrintTo(const MethodCase& c, std::ostream* out) {
  *out << c.reference_name;
}

MethodOptions options_for(const MethodCase& c) {
  MethodOptions options;
  options.smoothgrad.noise = weights::read_npy(fixture("methods_noise.npy"));
  options.integrated_gradients.approximation = c.approximation;
  options.integrated_gradients.steps = c.steps;
  options.batch_size = 3;  // deliberately not dividing the sample and step counts
  c.adjust(options);
  return options;
}

class MethodParity : public ::testing::TestWithParam<MethodCase> {};

std::string test_name(const ::testing::TestParamInfo<MethodCase>& param_info) {
  std::string name = param_info.param.reference_name;
  for (char& ch : name)
    if (ch == '-') ch = '_';
  return name;
}

// Our float32 attribution against Captum's float64 one. Two float32 implementations round
// differently, so our error should be of the size of PyTorch's own float32-vs-float64 error
// (measured by the script, 1e-7 to 7e-7 for most methods; 7.5e-3 for a Riemann trapezoid,
// whose node at the all-zero baseline sits on ReLU and max-pool ties that rounding decides).
// Allowed: 3x that, with a floor of 2e-6 (~16 float32 ulps of relative error).
TEST_P(MethodParity, MatchesCaptumWithinTheFloat32Floor) {
  const MethodCase& c = GetParam();
  Reference& r = reference();
  const Explanation ours =
      explain(c.cut ? r.cut : r.classifier, r.input, c.method, r.target, options_for(c));
  const Tensor expected = weights::read_npy(fixture("method_" + c.reference_name + ".npy"));
  const double torch_error = r.info["torch_float32_error"][c.reference_name];
  const double error = relative_l2(ours.attribution, expected);
  std::printf("%s: relative L2 %.1e, cosine %.9f (PyTorch float32 %.1e)\n",
              c.reference_name.c_str(), error, cosine_similarity(ours.attribution, expected),
              torch_error);
  const double tolerance = std::max(3 * torch_error, 2e-6);
  EXPECT_LE(error, tolerance);
  // A relative L2 error e bounds the angle: cosine >= 1 - e^2 (up to the norm ratio).
  EXPECT_GE(cosine_similarity(ours.attribution, expected), 1 - tolerance * tolerance);
  if (c.method == Method::IntegratedGradients) {
    const double expected_delta =
        weights::read_npy(fixture("method_" + c.reference_name + "-delta.npy")).item();
    const double delta_error = r.info["torch_float32_error"][c.reference_name + "-delta"];
    EXPECT_NEAR(ours.delta, expected_delta,
                std::max(3 * delta_error * std::abs(expected_delta), 1e-5));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Captum, MethodParity,
    ::testing::Values(MethodCase{"vanilla", Method::Vanilla},
                      MethodCase{"grad-x-input", Method::GradientXInput},
                      MethodCase{"smoothgrad", Method::SmoothGrad},
                      MethodCase{"smoothgrad-sq", Method::SmoothGradSquared},
                      MethodCase{"vargrad", Method::VarGrad},
                      MethodCase{"integrated-gradients-gausslegendre", Method::IntegratedGradients,
                                 "gausslegendre", 20},
                      MethodCase{"integrated-gradients-riemann_trapezoid",
                                 Method::IntegratedGradients, "riemann_trapezoid", 16},
                      MethodCase{"gradcam", Method::GradCam},
                      MethodCase{"guided-backprop", Method::GuidedBackprop},
                      MethodCase{"deconvnet", Method::Deconvnet},
                      MethodCase{"guided-gradcam", Method::GuidedGradCam},
                      // Captum's defaults, as --preset captum chooses them.
                      MethodCase{"gradcam-captum-default", Method::GradCam, "", 0,
                                 [](MethodOptions& o) { o.gradcam_relu = false; }},
                      MethodCase{"guided-gradcam-captum-default", Method::GuidedGradCam, "", 0,
                                 [](MethodOptions& o) {
                                   o.gradcam_relu = false;
                                   o.upsampling = "nearest";
                                 }},
                      MethodCase{
                          "smooth-guided-backprop", Method::SmoothGrad, "", 0,
                          [](MethodOptions& o) { o.smoothgrad.base = Method::GuidedBackprop; }}),
    test_name);

// Through the model cut after its stem: IG walks its path from the stem's output, SmoothGrad
// (signed gradients, plain or guided) averages there; both take the stem's backward once.
// smoothgrad-sq and vargrad cannot (squares are not linear) and ignore the cut.
INSTANTIATE_TEST_SUITE_P(
    CaptumThroughTheCut, MethodParity,
    ::testing::Values(
        MethodCase{"integrated-gradients-gausslegendre", Method::IntegratedGradients,
                   "gausslegendre", 20, [](MethodOptions&) {}, true},
        MethodCase{"integrated-gradients-riemann_trapezoid", Method::IntegratedGradients,
                   "riemann_trapezoid", 16, [](MethodOptions&) {}, true},
        MethodCase{"smoothgrad", Method::SmoothGrad, "", 0, [](MethodOptions&) {}, true},
        MethodCase{"smoothgrad-sq", Method::SmoothGradSquared, "", 0, [](MethodOptions&) {}, true},
        MethodCase{"vargrad", Method::VarGrad, "", 0, [](MethodOptions&) {}, true},
        MethodCase{"smooth-guided-backprop", Method::SmoothGrad, "", 0,
                   [](MethodOptions& o) { o.smoothgrad.base = Method::GuidedBackprop; }, true}),
    test_name);

// Completeness: sum(attribution) = f(x) - f(x') in the limit. This tiny random network is far
// rougher along the path than a trained ResNet-50 (its logit changes by ~51 over the path, with
// many ReLU kinks), so it needs about a thousand steps for 1%. Measured |delta|: Gauss-Legendre
// 22.2 at 50 steps, 2.0 at 200, 0.98 at 1000, 0.07 at 4000; Riemann midpoint 5.7 at 50, 1.1 at
// 200, 0.067 at 1000 (the cheapest rule to show convergence here).
TEST(MethodProperties, IntegratedGradientsCompletenessConverges) {
  Reference& r = reference();
  const Tensor ends = r.model->forward(concat_batch({r.input, zeros(r.input.shape())}));
  const double change = ends.at({0, r.target}) - ends.at({1, r.target});
  MethodOptions options;
  options.batch_size = 100;
  options.integrated_gradients.approximation = "riemann_middle";
  std::vector<double> deltas;
  for (int64_t steps : {50, 1000}) {
    options.integrated_gradients.steps = steps;
    const Explanation ig =
        explain(r.classifier, r.input, Method::IntegratedGradients, r.target, options);
    EXPECT_NEAR(sum(ig.attribution).item() - change, ig.delta, 1e-4 * std::abs(change));
    deltas.push_back(std::abs(ig.delta));
  }
  EXPECT_LT(deltas[1], 0.01 * std::abs(change));
  EXPECT_LT(deltas[1], deltas[0] / 10);
}

TEST(MethodProperties, BatchSizeChangesNothing) {
  Reference& r = reference();
  for (const Classifier* classifier : {&r.classifier, &r.cut})
    for (Method method : {Method::SmoothGrad, Method::VarGrad, Method::IntegratedGradients}) {
      MethodOptions options;
      options.smoothgrad.samples = 5;
      options.smoothgrad.seed = 11;
      options.integrated_gradients.steps = 7;
      std::vector<double> first;
      for (int64_t batch : {1, 2, 7, 16}) {
        options.batch_size = batch;
        const std::vector<double> values =
            explain(*classifier, r.input, method, r.target, options).attribution.to_vector();
        if (first.empty()) first = values;
        EXPECT_EQ(values, first) << method_name(method) << " with batch size " << batch
                                 << (classifier == &r.cut ? " through the cut" : "");
      }
    }
}

// classifier_on cuts the models whose first layer is affine, and IG and SmoothGrad use the cut:
// IG's stem then runs forward on the path's two ends only, and both take its backward once, not
// once per path point or noisy copy. (The attributions agree with Captum's either way:
// MethodParity above.)
TEST(MethodProperties, TheCutSkipsTheStemForEachPathPointAndSample) {
  Reference& r = reference();
  ASSERT_NE(r.cut.split(), nullptr);
  EXPECT_EQ(r.classifier.split(), nullptr);
  MethodOptions options;
  options.integrated_gradients.steps = 8;
  options.smoothgrad.samples = 8;
  for (Method method : {Method::IntegratedGradients, Method::SmoothGrad, Method::VarGrad}) {
    double flops[2];
    for (int cut = 0; cut < 2; ++cut) {
      autograd::FlopCounter counter;
      explain(cut ? r.cut : r.classifier, r.input, method, r.target, options);
      flops[cut] = counter.flops();
    }
    // The stem's forward (or backward to its input) for one image: 4 channels of 7 x 7 x 3
    // taps, stride 2.
    const double stem = 2.0 * double(r.input.size(2) / 2 * r.input.size(3) / 2) * 4 * 7 * 7 * 3;
    if (method == Method::VarGrad) {
      EXPECT_EQ(flops[1], flops[0]) << "vargrad squares the gradients: no cut";
      continue;
    }
    // IG: 8 forwards and backwards of the stem become 2 forwards (the path's ends) and one
    // forward and backward; SmoothGrad keeps its 8 forwards, and 8 backwards become one (with
    // its forward).
    const double saved = method == Method::IntegratedGradients ? (16 - 4) * stem : (8 - 2) * stem;
    EXPECT_EQ(flops[0] - flops[1], saved) << method_name(method);
  }
}

// Sampling methods run their points in the fewest chunks the batch size allows, of near-equal
// sizes, the larger first (IG-50 in batches of 16: 13, 13, 12, 12, not 16, 16, 16, 2), covering
// every point once, in order.
TEST(MethodProperties, ChunksAreFewAndNearlyEqual) {
  auto chunks = [](int64_t count, int64_t batch_size) {
    std::vector<std::pair<int64_t, int64_t>> seen;
    for_each_chunk(count, batch_size,
                   [&](int64_t begin, int64_t end) { seen.emplace_back(begin, end); });
    return seen;
  };
  using Chunks = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(chunks(50, 16), (Chunks{{0, 13}, {13, 26}, {26, 38}, {38, 50}}));
  EXPECT_EQ(chunks(50, 17), (Chunks{{0, 17}, {17, 34}, {34, 50}}));
  EXPECT_EQ(chunks(32, 16), (Chunks{{0, 16}, {16, 32}}));
  EXPECT_EQ(chunks(5, 16), (Chunks{{0, 5}}));
  EXPECT_EQ(chunks(3, 1), (Chunks{{0, 1}, {1, 2}, {2, 3}}));
  EXPECT_TRUE(chunks(0, 4).empty());
  EXPECT_THROW(chunks(4, 0), Error);
}

TEST(MethodProperties, GradCamIsNonNegativeAndDependsOnTheTarget) {
  Reference& r = reference();
  const Tensor a = explain(r.classifier, r.input, Method::GradCam, r.target).attribution;
  const Tensor b = explain(r.classifier, r.input, Method::GradCam, (r.target + 1) % 10).attribution;
  EXPECT_EQ(a.shape(), (Shape{1, 1, 2, 2}));
  for (double v : a.to_vector()) EXPECT_GE(v, 0.0);
  EXPECT_NE(a.to_vector(), b.to_vector());
  MethodOptions deeper;
  deeper.layer = "layer3";
  EXPECT_EQ(explain(r.classifier, r.input, Method::GradCam, r.target, deeper).attribution.shape(),
            (Shape{1, 1, 4, 4}));
  deeper.layer = "no_such_layer";
  EXPECT_THROW(explain(r.classifier, r.input, Method::GradCam, r.target, deeper), InvalidArgument);
}

TEST(MethodProperties, CompositionsEqualTheirParts) {
  Reference& r = reference();
  const Tensor gradient = input_gradients(r.classifier, r.input, {r.target});
  EXPECT_EQ(explain(r.classifier, r.input, Method::Vanilla, r.target).attribution.to_vector(),
            abs(gradient).to_vector());
  EXPECT_EQ(
      explain(r.classifier, r.input, Method::GradientXInput, r.target).attribution.to_vector(),
      mul(r.input, gradient).to_vector());
  const Tensor guided =
      explain(r.classifier, r.input, Method::GuidedBackprop, r.target).attribution;
  const Tensor cam = explain(r.classifier, r.input, Method::GradCam, r.target).attribution;
  const Tensor product = mul(guided, resize_bilinear(cam, 64, 64));
  EXPECT_EQ(explain(r.classifier, r.input, Method::GuidedGradCam, r.target).attribution.to_vector(),
            product.to_vector());
}

TEST(MethodProperties, CaptumPresetChangesOnlyWhatCaptumDoesDifferently) {
  const MethodOptions paper = MethodOptions::preset("paper"),
                      captum = MethodOptions::preset("captum");
  EXPECT_EQ(paper.smoothgrad.samples, 50);
  EXPECT_TRUE(paper.gradcam_relu);
  EXPECT_EQ(captum.smoothgrad.samples, 5);
  EXPECT_EQ(captum.smoothgrad.absolute_stdev, 1.0);
  EXPECT_FALSE(captum.gradcam_relu);
  EXPECT_EQ(captum.upsampling, "nearest");
  EXPECT_EQ(captum.integrated_gradients.steps, paper.integrated_gradients.steps);
  EXPECT_THROW(MethodOptions::preset("keras"), InvalidArgument);
  MethodOptions bad = paper;
  bad.smoothgrad.base = Method::GradCam;
  Reference& r = reference();
  EXPECT_THROW(explain(r.classifier, r.input, Method::SmoothGrad, r.target, bad), InvalidArgument);
}

// The GEMMs are cut into parts by shape, not by thread count, and every other reduction runs in
// a fixed order: one thread and two give the same bits.
TEST(MethodProperties, BitIdenticalOnOneAndTwoThreads) {
  Reference& r = reference();
  MethodOptions options;
  options.smoothgrad.samples = 3;
  options.integrated_gradients.steps = 5;
  std::vector<std::vector<double>> results[2];
  const int previous = kernels::cpu::num_threads();
  for (int threads : {1, 2}) {
    kernels::cpu::set_num_threads(threads);
    for (Method method :
         {Method::Vanilla, Method::SmoothGrad, Method::IntegratedGradients, Method::GuidedGradCam})
      results[threads - 1].push_back(
          explain(r.classifier, r.input, method, r.target, options).attribution.to_vector());
  }
  kernels::cpu::set_num_threads(previous);
  for (size_t i = 0; i < results[0].size(); ++i) EXPECT_EQ(results[0][i], results[1][i]) << i;
}

TEST(MethodProperties, TopClassIsTheDefaultTarget) {
  Reference& r = reference();
  EXPECT_EQ(explain(r.classifier, r.input, Method::Vanilla).target, r.target);
}

TEST(IntegrationRule, MatchesCaptumsNodesAndWeights) {
  std::vector<double> alphas, weights;
  integration_rule("gausslegendre", 3, alphas, weights);
  const double offset = 0.5 * std::sqrt(0.6);
  EXPECT_NEAR(alphas[0], 0.5 - offset, 1e-15);
  EXPECT_NEAR(alphas[1], 0.5, 1e-15);
  EXPECT_NEAR(alphas[2], 0.5 + offset, 1e-15);
  EXPECT_NEAR(weights[0], 5.0 / 18, 1e-15);
  EXPECT_NEAR(weights[1], 8.0 / 18, 1e-15);
  integration_rule("gausslegendre", 50, alphas, weights);
  double total = 0;
  for (double w : weights) total += w;
  EXPECT_NEAR(total, 1.0, 1e-13);
  integration_rule("riemann_trapezoid", 50, alphas, weights);
  total = 0;
  for (double w : weights) total += w;
  EXPECT_NEAR(total, 0.98, 1e-15);  // Captum's trapezoid: 1 - 1/n
  EXPECT_DOUBLE_EQ(alphas.front(), 0.0);
  EXPECT_DOUBLE_EQ(alphas.back(), 1.0);
  integration_rule("riemann_left", 4, alphas, weights);
  EXPECT_EQ(alphas, (std::vector<double>{0, 0.25, 0.5, 0.75}));
  integration_rule("riemann_middle", 2, alphas, weights);
  EXPECT_EQ(alphas, (std::vector<double>{0.25, 0.75}));
  EXPECT_THROW(integration_rule("simpson", 4, alphas, weights), InvalidArgument);
}

}  // namespace
}  // namespace saliency
