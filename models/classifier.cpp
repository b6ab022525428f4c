#include "models/classifier.h"

#include "core/error.h"

namespace saliency::models {

Tensor ImageClassifier::input_layer(const Tensor&) const {
  throw InvalidArgument(concat(architecture(), ": the first layer is not affine in the image"));
}

Tensor ImageClassifier::forward_from_input_layer(const Tensor&) const {
  throw InvalidArgument(concat(architecture(), ": the first layer is not affine in the image"));
}

}  // namespace saliency::models
