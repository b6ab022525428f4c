#pragma once
// What the numbered examples share: a model and one image to explain, and where pictures go.
// By default the embedded shapes model and a held-out shapes image (no files needed); with
// arguments `IMAGE [WEIGHTS]` any image and, say, ResNet-50 weights. `--out DIR` (default
// outputs/examples) receives the pictures.
#include <optional>
#include <string>

#include "datasets/shapes.h"
#include "saliency/image.h"
#include "saliency/predict.h"

namespace saliency::examples {

struct Setup {
  LoadedModel model;
  Tensor input;      // [1, 3, H, W], normalized for the model
  RgbImage picture;  // the same image as the model sees it, for overlays
  std::string out;   // output folder (created)
  Classifier classifier;
  // The held-out shapes sample (label, box, mask) when no IMAGE was given, so examples can
  // score a map against where the object really is.
  std::optional<datasets::ShapeSample> shape;
};

// Parses `[IMAGE [WEIGHTS]] [--out DIR]`; throws InvalidArgument with a usage line on bad input.
Setup setup(int argc, char** argv, const std::string& example);

// A test image with two objects of different classes: the left half of one held-out shapes
// image next to the right half of another (the model was trained on one object per image).
struct TwoObjects {
  RgbImage image;
  int64_t left_label = 0, right_label = 0;
};
TwoObjects two_objects(int64_t size = 64);

// The largest |a - b| over all elements: how far a computation by hand is from the library's.
double max_abs_difference(const Tensor& a, const Tensor& b);
double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b);

// Writes `picture` as <out>/<file> (enlarged to about 256 px high when smaller) and prints the
// path.
void save(const Setup& setup, const std::string& file, const RgbImage& picture);

}  // namespace saliency::examples
