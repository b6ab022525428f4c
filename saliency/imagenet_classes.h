#pragma once
// The 1000 ImageNet-1k class names in torchvision's index order (data/imagenet_classes.txt,
// compiled in so predictions need no data file at run time).
#include <string>
#include <vector>

namespace saliency {

const std::vector<std::string>& imagenet_class_names();

}  // namespace saliency
