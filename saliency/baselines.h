#pragma once
// Integrated Gradients baselines x', in model-input (normalized) space, same shape as the input:
//   zero     all zeros (Captum's default; in pixel space the ImageNet mean colour)
//   black    a black image, i.e. (0 - mean) / std per channel
//   blur     the input under a gaussian blur (sigma = 2.5% of the shorter side): keeps colour
//            and coarse layout, removes the detail the model may attribute to
//   uniform  seeded uniform noise between the input's min and max
//   FILE.npy a tensor of the input's shape
#include <string>

#include "core/tensor.h"
#include "saliency/image.h"

namespace saliency {

Tensor make_baseline(const std::string& spec, const Tensor& input, uint64_t seed = 0,
                     const Normalization& normalization = {});

}  // namespace saliency
