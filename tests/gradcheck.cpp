#include "gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"

namespace saliency::testing {
namespace {

double weighted_sum(const Tensor& output, const Tensor& weights) {
  const std::vector<double> o = output.to_vector(), w = weights.to_vector();
  double total = 0;
  for (size_t i = 0; i < o.size(); ++i) total += o[i] * w[i];
  return total;
}

}  // namespace

Tensor random64(const Shape& shape, uint64_t seed) {
  Generator gen(seed);
  return scale_shift(rand(shape, gen, DType::Float64), 2.0, -1.0);
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i)
    worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

double max_relative_error(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double worst = 0, scale = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return worst / scale;
}

double relative_l2(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double difference = 0, norm = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    difference += (x[i] - y[i]) * (x[i] - y[i]);
    norm += y[i] * y[i];
  }
  return std::sqrt(difference / norm);
}

double cosine_similarity(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double dot = 0, xx = 0, yy = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    dot += x[i] * y[i];
    xx += x[i] * x[i];
    yy += y[i] * y[i];
  }
  return dot / std::sqrt(xx * yy);
}

::testing::AssertionResult gradcheck(const Function& f, const std::vector<Tensor>& inputs,
                                     const GradcheckOptions& options) {
  std::vector<Tensor> leaves;
  for (const Tensor& input : inputs) {
    if (input.dtype() != DType::Float64)
      return ::testing::AssertionFailure() << "gradcheck needs float64 inputs";
    leaves.push_back(input.clone().set_requires_grad(true));
  }
  const Tensor output = f(leaves);
  Generator gen(options.seed);
  const Tensor weights = randn(output.shape(), gen, DType::Float64);
  autograd::backward(output, weights);

  autograd::NoGradGuard no_grad;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const Tensor analytic = leaves[i].grad();
    if (!analytic.defined())
      return ::testing::AssertionFailure() << "input " << i << " received no gradient";
    for (int64_t j = 0; j < leaves[i].numel(); ++j) {
      std::vector<Tensor> probe;
      for (const Tensor& leaf : leaves) probe.push_back(leaf.detach().clone());
      double* element = probe[i].data<double>() + j;
      const double saved = *element;
      *element = saved + options.eps;
      const double up = weighted_sum(f(probe), weights);
      *element = saved - options.eps;
      const double down = weighted_sum(f(probe), weights);
      const double numeric = (up - down) / (2 * options.eps);
      const double exact = analytic.data<double>()[j];
      if (std::abs(exact - numeric) > options.atol + options.rtol * std::abs(numeric)) {
        return ::testing::AssertionFailure()
               << "input " << i << " " << leaves[i].shape() << " element " << j
               << ": engine gradient " << exact << ", finite difference " << numeric;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace saliency::testing
