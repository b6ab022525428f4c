#pragma once
// Gradient checks against central finite differences, in float64.
//
// The checked quantity is L = sum(f(inputs) * R) for a fixed random R, so every output element
// contributes with a different weight. With eps = 1e-6 in float64 the central difference has
// truncation error ~eps^2 * |f'''| ~ 1e-12 and rounding error ~1e-16 / eps ~ 1e-10 relative
// to the values involved; the default tolerance (1e-7 absolute + 1e-6 relative) sits three
// orders of magnitude above both, and far below any real gradient bug.
#include <gtest/gtest.h>

#include <functional>
#include <vector>

#include "core/tensor.h"

namespace saliency::testing {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-6;
  uint64_t seed = 1234;  // for R
};

using Function = std::function<Tensor(const std::vector<Tensor>&)>;

// Every input must be float64. Checks the gradient of each input that requires_grad is set
// for by this function (all of them), element by element.
::testing::AssertionResult gradcheck(const Function& f, const std::vector<Tensor>& inputs,
                                     const GradcheckOptions& options = {});

// Random float64 tensor with values in [-1, 1) (away from nothing in particular: kinks are
// checked separately by the convention tests).
Tensor random64(const Shape& shape, uint64_t seed);

// Largest |a - b| over all elements (shapes must match).
double max_abs_difference(const Tensor& a, const Tensor& b);
// max |a - b| / max |b| (the measure the fixture script uses for model outputs).
double max_relative_error(const Tensor& a, const Tensor& b);
// ||a - b|| / ||b|| and the cosine of the angle between a and b, over all elements.
double relative_l2(const Tensor& a, const Tensor& b);
double cosine_similarity(const Tensor& a, const Tensor& b);

}  // namespace saliency::testing
