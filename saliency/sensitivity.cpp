#include "saliency/sensitivity.h"

#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/generator.h"

namespace saliency {

std::vector<std::vector<int64_t>> random_subsets(int64_t pixels, int64_t n, int64_t samples,
                                                 uint64_t seed) {
  SALIENCY_CHECK(n >= 1 && n <= pixels, "sensitivity-n: subset size ", n, " outside [1, ", pixels,
                 "]");
  Generator generator(seed ^ (uint64_t(n) * 0x9E3779B97F4A7C15ull));
  std::vector<int64_t> indices(static_cast<size_t>(pixels));
  std::vector<std::vector<int64_t>> subsets;
  for (int64_t s = 0; s < samples; ++s) {
    std::iota(indices.begin(), indices.end(), 0);
    // The first n steps of a Fisher-Yates shuffle: a uniform subset of n pixels.
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j = i + int64_t(generator.next_u64() % uint64_t(pixels - i));
      std::swap(indices[size_t(i)], indices[size_t(j)]);
    }
    subsets.emplace_back(indices.begin(), indices.begin() + n);
  }
  return subsets;
}

double pearson_correlation(const std::vector<double>& a, const std::vector<double>& b) {
  SALIENCY_CHECK(a.size() == b.size() && a.size() >= 2, "pearson_correlation: ", a.size(), " and ",
                 b.size(), " values");
  const double n = double(a.size());
  const double mean_a = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mean_b = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double cov = 0, var_a = 0, var_b = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    cov += (a[i] - mean_a) * (b[i] - mean_b);
    var_a += (a[i] - mean_a) * (a[i] - mean_a);
    var_b += (b[i] - mean_b) * (b[i] - mean_b);
  }
  if (var_a == 0 || var_b == 0) return std::numeric_limits<double>::quiet_NaN();
  return cov / std::sqrt(var_a * var_b);
}

double sensitivity_correlation(const Classifier& model, const Tensor& image,
                               const std::vector<float>& attribution, int64_t target,
                               const std::vector<std::vector<int64_t>>& subsets,
                               int64_t batch_size) {
  SALIENCY_CHECK(image.rank() == 4 && image.size(0) == 1,
                 "sensitivity-n: expected one image [1, C, H, W], got ", image.shape());
  const int64_t channels = image.size(1), plane = image.size(2) * image.size(3);
  SALIENCY_CHECK(int64_t(attribution.size()) == plane, "sensitivity-n: a ", attribution.size(),
                 "-value attribution for a ", image.size(2), " x ", image.size(3), " image");
  autograd::NoGradGuard inference;
  const Tensor x = image.detach();
  const double score = model(x).at({0, target});
  std::vector<double> sums, drops;
  for_each_chunk(int64_t(subsets.size()), batch_size, [&](int64_t begin, int64_t end) {
    Tensor batch = Tensor::empty({end - begin, channels, image.size(2), image.size(3)}, x.dtype());
    for (int64_t s = begin; s < end; ++s) {
      Tensor removed = batch.slice_batch(s - begin, s - begin + 1);
      removed.copy_from(x);
      double total = 0;
      dispatch_dtype(removed.dtype(), [&]<typename T>() {
        T* values = removed.data<T>();
        for (int64_t pixel : subsets[size_t(s)]) {
          SALIENCY_CHECK(pixel >= 0 && pixel < plane, "sensitivity-n: pixel ", pixel,
                         " outside the image");
          for (int64_t c = 0; c < channels; ++c) values[c * plane + pixel] = T(0);
          total += attribution[size_t(pixel)];
        }
      });
      sums.push_back(total);
    }
    const Tensor logits = model(batch);
    for (int64_t s = begin; s < end; ++s) drops.push_back(score - logits.at({s - begin, target}));
  });
  return pearson_correlation(sums, drops);
}

SensitivityResult sensitivity_n(const Classifier& model, const Tensor& image,
                                const std::vector<float>& attribution, int64_t target,
                                const SensitivityOptions& options) {
  SALIENCY_CHECK(options.samples >= 2, "sensitivity-n: needs at least 2 samples per size, got ",
                 options.samples);
  SALIENCY_CHECK(image.rank() == 4 && image.size(0) == 1,
                 "sensitivity-n: expected one image [1, C, H, W], got ", image.shape());
  const int64_t plane = image.rank() == 4 ? image.size(2) * image.size(3) : 0;
  SensitivityResult result;
  for (double fraction : options.fractions) {
    SALIENCY_CHECK(fraction > 0 && fraction <= 1, "sensitivity-n: fraction ", fraction,
                   " outside (0, 1]");
    const int64_t n = std::max<int64_t>(1, std::llround(fraction * double(plane)));
    result.sizes.push_back(n);
    result.correlations.push_back(sensitivity_correlation(
        model, image, attribution, target, random_subsets(plane, n, options.samples, options.seed),
        options.batch_size));
  }
  return result;
}

}  // namespace saliency
