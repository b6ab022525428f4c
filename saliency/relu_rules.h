#pragma once
// Rule sets that replace ReLU's backward: the two classic "modified backprop" methods.
#include "autograd/rules.h"

namespace saliency {

// Guided Backpropagation (Springenberg et al. 2015): a gradient passes a ReLU only where the
// forward input was positive and the gradient itself is positive.
autograd::RuleSet guided_backprop_rules();

// Deconvnet (Zeiler & Fergus 2014): ReLU applied to the gradient, regardless of the input.
autograd::RuleSet deconvnet_rules();

}  // namespace saliency
