#include "saliency/baselines.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "weights/tensor_file.h"

namespace saliency {

Tensor make_baseline(const std::string& spec, const Tensor& input, uint64_t seed,
                     const Normalization& normalization) {
  autograd::NoGradGuard no_graph;
  if (spec == "zero") return zeros(input.shape(), input.dtype());
  if (spec == "black") {
    SALIENCY_CHECK(input.rank() == 4 && input.size(1) == 3, "black baseline: needs an RGB input");
    Tensor black = Tensor::empty(input.shape(), input.dtype());
    for (int c = 0; c < 3; ++c)
      black.slice_batch(0, 1)
          .view({3, input.numel() / 3})
          .select_batch(c)
          .fill(-normalization.mean[c] / normalization.std[c]);
    return black;
  }
  if (spec == "blur") {
    const double sigma = 0.025 * double(std::min(input.size(2), input.size(3)));
    int64_t radius = static_cast<int64_t>(std::ceil(3 * sigma));
    radius = std::min({radius, input.size(2) - 1, input.size(3) - 1});
    return gaussian_blur(input, 2 * radius + 1, sigma);
  }
  if (spec == "uniform") {
    const std::vector<double> values = input.to_vector();
    const auto [low, high] = std::minmax_element(values.begin(), values.end());
    Generator generator(seed);
    return scale_shift(rand(input.shape(), generator, input.dtype()), *high - *low, *low);
  }
  if (spec.ends_with(".npy")) {
    Tensor baseline = weights::read_npy(spec).to(input.dtype());
    if (baseline.numel() == input.numel() && baseline.rank() == input.rank() - 1)
      baseline = baseline.view(input.shape());
    SALIENCY_CHECK(baseline.shape() == input.shape(), spec, ": baseline of shape ",
                   baseline.shape(), " does not match the input ", input.shape());
    return baseline;
  }
  throw InvalidArgument(
      concat("unknown baseline '", spec, "' (known: zero, black, blur, uniform, or a .npy file)"));
}

}  // namespace saliency
