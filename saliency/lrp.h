#pragma once
// Layer-wise Relevance Propagation (Bach 2015; Montavon 2019) as backward rules of the engine.
//
// The relevance of the target class starts as its logit and flows backward through the graph in
// place of the gradient. Each op kind gets a rule:
//   convolution / fully connected  the layer's LRP rule from the composite (below)
//   residual addition, avg pooling  "Norm": each input keeps its share x_i / sum(x) of the
//                                   relevance (LRP-epsilon with a tiny stabilizer)
//   ReLU                            passes relevance through unchanged
//   max pooling, reshapes           their gradient: the winner takes all
//   BatchNorm                       must be folded into its convolution first (canonization,
//                                   models::ResNet::fold_batch_norm); an unfolded one throws
// The rules follow Zennit's definitions (zennit/rules.py, 0.5.1), including its stabilizer
// z + eps * sign(z) with sign(0) = +1; docs/methods.md lists them with their formulas.
#include <string>
#include <vector>

#include "autograd/rules.h"

namespace saliency {

// The rule for one convolution or fully connected layer z = W x + b.
struct LrpRule {
  enum class Kind {
    Epsilon,    // R_i = x_i * sum_j W_ji R_j / (z_j + eps sign z_j)
    ZPlus,      // alpha-beta with alpha 1, beta 0: positive contributions only
    AlphaBeta,  // alpha * positive share - beta * negative share (alpha - beta = 1)
    Gamma,      // weights W + gamma * W+ for positive outputs (generalized for signed inputs)
    Flat,       // every input of a receptive field gets an equal share (W = 1, x = 1, b = 0)
    WSquare,    // shares by W^2 (and b^2, as Zennit), independent of x
    ZBox,       // the first layer of a bounded input: x in [low, high] per channel
  };
  Kind kind = Kind::Epsilon;
  double epsilon = 1e-6;  // Epsilon's epsilon; the stabilizer of every other kind
  double gamma = 0.25;
  double alpha = 1.0, beta = 0.0;
  std::vector<double> low, high;  // ZBox: lowest and highest input value per channel

  static LrpRule epsilon_rule(double epsilon = 1e-6);
  static LrpRule zplus(double stabilizer = 1e-6);
  static LrpRule alpha_beta(double alpha, double beta, double stabilizer = 1e-6);
  static LrpRule gamma_rule(double gamma = 0.25, double stabilizer = 1e-6);
  static LrpRule flat(double stabilizer = 1e-6);
  static LrpRule w_square(double stabilizer = 1e-6);
  static LrpRule z_box(std::vector<double> low, std::vector<double> high, double stabilizer = 1e-6);
  std::string describe() const;  // e.g. "gamma(0.25)"
};

// Which rule each layer gets. "The first layer" is the convolution or fully connected layer
// that reads the input image (its input is the graph's leaf), so no layer names are needed.
struct LrpComposite {
  std::string name;
  LrpRule first_layer;
  LrpRule convolution;       // every other convolution
  LrpRule linear;            // every other fully connected layer
  double stabilizer = 1e-6;  // the Norm rule of residual additions and average pools

  // Zennit's EpsilonPlusFlat: flat first layer, z+ convolutions, epsilon dense layers.
  static LrpComposite epsilon_plus_flat(double epsilon = 1e-6, double stabilizer = 1e-6);
  // Zennit's EpsilonGammaBox: z^B first layer with the input's bounds, gamma convolutions,
  // epsilon dense layers.
  static LrpComposite epsilon_gamma_box(std::vector<double> low, std::vector<double> high,
                                        double epsilon = 1e-6, double gamma = 0.25,
                                        double stabilizer = 1e-6);
};

// The rule set that makes a backward pass an LRP pass. The forward pass it explains must run
// under an autograd::SaveForRulesGuard (saliency::explain does this), so additions and
// average pools keep the inputs their Norm rule needs.
autograd::RuleSet lrp_rules(const LrpComposite& composite);

// The per-channel bounds of a normalized image whose pixels lie in [0, 1]: (0 - mean) / std and
// (1 - mean) / std, the box of z^B for models fed with that normalization.
void normalized_input_bounds(const std::vector<double>& mean, const std::vector<double>& stdev,
                             std::vector<double>& low, std::vector<double>& high);

}  // namespace saliency
