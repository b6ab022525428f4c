#pragma once
// The model randomization test (Adebayo et al. 2018, "Sanity checks for saliency maps"): a map
// that explains the model must change when the model's weights are replaced by random ones.
// Cascading randomization replaces the layers from the top (logits) down, one more at each
// step, and compares each map with the intact model's by rank correlation. Methods whose maps
// stay similar (guided backprop, in the paper) show the image more than the model.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "nn/module.h"
#include "saliency/methods.h"

namespace saliency {

struct RandomizationStep {
  std::string layer;        // the layer randomized at this step (all before it already are)
  double spearman = 0;      // rank correlation with the intact model's map
  double spearman_abs = 0;  // the same on absolute values (the paper reports both)
};

// What is compared: one map (H x W) for the current weights of the model.
using MapFunction = std::function<std::vector<float>(const Classifier&)>;

// Randomizes, in `cascade` order, the convolution and fully connected parameters (rank >= 2
// weights and their biases; BatchNorm is left alone) of every module whose name is or starts
// with each prefix: each tensor is redrawn from N(0, sd^2) with its own standard deviation
// sd, seeded. The model's parameters are restored before returning, also when an error is
// thrown.
std::vector<RandomizationStep> cascading_randomization(nn::Module& model,
                                                       const Classifier& classifier,
                                                       const std::vector<std::string>& cascade,
                                                       const MapFunction& explain_map,
                                                       uint64_t seed = 0);

// Spearman's rank correlation (ties get their average rank).
double spearman_correlation(const std::vector<float>& a, const std::vector<float>& b);

}  // namespace saliency
