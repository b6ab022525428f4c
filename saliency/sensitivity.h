#pragma once
// Sensitivity-n (Ancona et al. 2018, "Towards better understanding of gradient-based attribution
// methods"): remove random subsets of n pixels and compare, over many subsets, the sum of the
// attributions of the removed pixels with the drop in the target logit they cause. The Pearson
// correlation, as a function of n, tells how well the map predicts the effect of removals.
// Methods that satisfy completeness on a linear model score exactly 1 for every n there.
#include <cstdint>
#include <vector>

#include "saliency/methods.h"

namespace saliency {

struct SensitivityOptions {
  // Subset sizes as fractions of the pixels (each at least one pixel).
  std::vector<double> fractions{0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8};
  int64_t samples = 50;     // random subsets per size
  uint64_t seed = 0;        // the subsets depend only on the seed and the image size, so every
                            // method of an evaluation sees the same ones
  int64_t batch_size = 16;  // perturbed images per forward pass
};

struct SensitivityResult {
  std::vector<int64_t> sizes;        // n, in pixels
  std::vector<double> correlations;  // Pearson r per n (NaN when either side is constant)
};

// image [1, C, H, W] (normalized); attribution: H x W, each pixel's attribution summed over
// channels. A removed pixel is set to zero in every channel (the mean colour).
SensitivityResult sensitivity_n(const Classifier& model, const Tensor& image,
                                const std::vector<float>& attribution, int64_t target,
                                const SensitivityOptions& options = {});

// The correlation for explicit subsets (pixel indices y * W + x), as sensitivity_n uses.
double sensitivity_correlation(const Classifier& model, const Tensor& image,
                               const std::vector<float>& attribution, int64_t target,
                               const std::vector<std::vector<int64_t>>& subsets,
                               int64_t batch_size = 16);

// The subsets sensitivity_n draws: `samples` subsets of n distinct pixels out of `pixels`.
std::vector<std::vector<int64_t>> random_subsets(int64_t pixels, int64_t n, int64_t samples,
                                                 uint64_t seed);

double pearson_correlation(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace saliency
