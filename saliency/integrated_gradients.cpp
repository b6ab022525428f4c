// Integrated Gradients (Sundararajan et al. 2017): attribution = (x - x') * sum_k w_k g(x' +
// a_k (x - x')), with Captum's nodes a_k and weights w_k, and the completeness delta
// sum(attribution) - (f(x) - f(x')). Path points run in chunks; the weighted sum goes in step
// order, so the chunk size does not change the result. With a classifier cut after an affine
// first layer, the path runs from that layer's output on (see below).
#include <algorithm>
#include <cmath>
#include <numbers>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/method_steps.h"

namespace saliency {
namespace {

// Gauss-Legendre nodes on [-1, 1] by Newton's method on the Legendre polynomial (the same
// values numpy.polynomial.legendre.leggauss returns, to ~1e-15), ascending.
void gauss_legendre(int64_t n, std::vector<double>& nodes, std::vector<double>& weights) {
  nodes.assign(n, 0.0);
  weights.assign(n, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    double x = std::cos(std::numbers::pi * (double(i) + 0.75) / (double(n) + 0.5));
    double derivative = 0;
    for (int iteration = 0; iteration < 100; ++iteration) {
      double p0 = 1, p1 = x;
      for (int64_t k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * k - 1) * x * p1 - (k - 1.0) * p0) / double(k);
        p0 = p1;
        p1 = p2;
      }
      const double pn = n == 0 ? 1 : (n == 1 ? x : p1);
      const double pn_minus_1 = n == 1 ? 1 : p0;
      derivative = double(n) * (x * pn - pn_minus_1) / (x * x - 1);
      const double step = pn / derivative;
      x -= step;
      if (std::abs(step) < 1e-16) break;
    }
    nodes[n - 1 - i] = x;
    weights[n - 1 - i] = 2.0 / ((1 - x * x) * derivative * derivative);
  }
}

}  // namespace

void integration_rule(const std::string& approximation, int64_t steps, std::vector<double>& alphas,
                      std::vector<double>& weights) {
  SALIENCY_CHECK(steps >= 1, "integrated gradients: needs at least one step, got ", steps);
  if (approximation == "gausslegendre") {
    gauss_legendre(steps, alphas, weights);
    for (int64_t i = 0; i < steps; ++i) {  // from [-1, 1] to [0, 1]
      alphas[i] = 0.5 * (alphas[i] + 1);
      weights[i] *= 0.5;
    }
    return;
  }
  // Captum's Riemann rules: weights 1/n (the trapezoid halves the two ends, so its weights
  // sum to 1 - 1/n), nodes spaced evenly as torch.linspace gives them.
  const double n = double(steps);
  double first, last;
  if (approximation == "riemann_left")
    first = 0, last = 1 - 1 / n;
  else if (approximation == "riemann_right")
    first = 1 / n, last = 1;
  else if (approximation == "riemann_middle")
    first = 1 / (2 * n), last = 1 - 1 / (2 * n);
  else if (approximation == "riemann_trapezoid")
    first = 0, last = 1;
  else
    throw InvalidArgument(concat("unknown integration method '", approximation,
                                 "' (known: "
                                 "gausslegendre, riemann_left, riemann_right, riemann_middle, "
                                 "riemann_trapezoid)"));
  SALIENCY_CHECK(approximation != "riemann_trapezoid" || steps >= 2,
                 "riemann_trapezoid needs at least 2 steps");
  alphas.assign(steps, first);
  weights.assign(steps, 1 / n);
  for (int64_t i = 1; i < steps; ++i) alphas[i] = first + (last - first) * double(i) / (n - 1);
  if (approximation == "riemann_trapezoid") weights.front() /= 2, weights.back() /= 2;
}

namespace methods {

Tensor integrated_gradients(const Classifier& model, const Tensor& input, int64_t target,
                            const MethodOptions& options, double* delta) {
  const IntegratedGradientsOptions& o = options.integrated_gradients;
  const Tensor baseline =
      o.baseline.defined() ? o.baseline.to(input.dtype()) : zeros(input.shape(), input.dtype());
  SALIENCY_CHECK(baseline.shape() == input.shape(), "integrated gradients: baseline ",
                 baseline.shape(), " does not match input ", input.shape());
  std::vector<double> alphas, weights;
  integration_rule(o.approximation, o.steps, alphas, weights);
  // Path points and the weighted sum live on the model's device: on a GPU nothing but the
  // finished attribution crosses to the host.
  const Tensor start = baseline.to(options.device), path_end = input.to(options.device);
  Tensor difference;
  // Where the path is walked: the input, or the output of the model's first layer when it is
  // affine (Classifier::Split), whose image of the straight path is the straight path between
  // the images of its ends. There the points skip the layer, and the weighted gradients summed
  // at its output take its backward once (ResNet's stem: IG-50 about 4% faster).
  const Classifier::Split* split = model.split();
  Tensor path_start, path_step;
  {
    autograd::NoGradGuard no_graph;
    difference = sub(path_end, start);
    path_start = split ? split->first(start) : start;
    path_step = split ? sub(split->first(path_end), path_start) : difference;
  }
  const Classifier walked = split ? Classifier(split->rest) : model;
  Tensor total = zeros(path_start.shape(), path_start.dtype()).to(path_start.device());
  for_each_chunk(o.steps, options.batch_size, [&](int64_t begin, int64_t end) {
    Tensor points;
    {
      autograd::NoGradGuard no_graph;
      points = scaled_copies(path_start, path_step, {alphas.begin() + begin, alphas.begin() + end});
    }
    const Tensor gradients = input_gradients(walked, points, {target});
    autograd::NoGradGuard no_graph;
    total = add_weighted_rows(total, gradients, {weights.begin() + begin, weights.begin() + end});
  });
  if (split) total = first_layer_backward(*split, total, start);
  autograd::NoGradGuard no_graph;
  const Tensor attribution = mul(total, difference).to(Device::cpu());
  if (delta) {
    const Tensor ends = model(concat_batch({input, baseline}));
    *delta = sum(attribution).item() - (ends.at({0, target}) - ends.at({1, target}));
  }
  return attribution;
}

}  // namespace methods
}  // namespace saliency
