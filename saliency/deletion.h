#pragma once
// Deletion and insertion curves (Petsiuk et al. 2018, "RISE"): how fast the target class's
// probability falls when the most salient pixels are removed first, and how fast it rises when
// they are put back into an empty canvas first. A faithful map gives a low deletion area and a
// high insertion area.
//
// The protocol is RISE's CausalMetric: pixels sorted by saliency (ties: lower index first),
// p = ceil(H W / steps) pixels per step, the softmax probability of the target scored before
// every step and after the last (ceil(H W / p) + 1 points), area by the trapezoid rule on [0, 1].
#include <cstdint>
#include <string>
#include <vector>

#include "saliency/methods.h"

namespace saliency {

// What a removed pixel becomes (in the model's normalized input): zero (the dataset's mean
// colour), or the same pixel of a blurred copy of the image (RISE: kernel 11, sigma 5).
enum class Substrate { Zeros, Blur };
Substrate parse_substrate(const std::string& name);  // "zeros" or "blur"
std::string substrate_name(Substrate substrate);

struct CurveOptions {
  int64_t steps = 50;
  Substrate substrate = Substrate::Zeros;
  int64_t batch_size = 16;  // perturbed images per forward pass
  int64_t blur_kernel = 11;
  double blur_sigma = 5.0;
};

struct Curve {
  std::vector<double> scores;  // target probability after 0, p, 2p, ... pixels
  double area = 0;             // trapezoid area on [0, 1]
};

// image [1, C, H, W] (normalized); map: H x W saliency, larger = more important.
Curve deletion_curve(const Classifier& model, const Tensor& image, const std::vector<float>& map,
                     int64_t target, const CurveOptions& options = {});
// Starts from the substrate (RISE uses the blurred image) and inserts the image's pixels.
Curve insertion_curve(const Classifier& model, const Tensor& image, const std::vector<float>& map,
                      int64_t target, const CurveOptions& options = {});

// RISE's area: (sum - first / 2 - last / 2) / (n - 1).
double curve_area(const std::vector<double>& scores);

// The pixel indices (y * W + x) by decreasing saliency, ties by increasing index.
std::vector<int64_t> saliency_order(const std::vector<float>& map);

}  // namespace saliency
