#include "examples/common/example.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "saliency/demo_model.h"
#include "saliency/visualize.h"

namespace saliency::examples {

Setup setup(int argc, char** argv, const std::string& example) {
  std::vector<std::string> positional;
  std::string out = "outputs/examples";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc)
      out = argv[++i];
    else if (!arg.starts_with("--"))
      positional.push_back(arg);
    else
      throw InvalidArgument(concat("usage: ", example, " [IMAGE [WEIGHTS]] [--out DIR]"));
  }
  SALIENCY_CHECK(positional.size() <= 2, "usage: ", example, " [IMAGE [WEIGHTS]] [--out DIR]");
  Setup s{positional.size() == 2 ? load_model(positional[1]) : load_shapes_model(),
          {},
          {},
          out,
          {},
          {}};
  if (positional.empty()) {  // held-out shape 3 of the test split (a triangle)
    s.shape = datasets::make_shape_sample(datasets::kShapesTestSeed, 3);
    s.input = preprocess(s.shape->image, s.model.info.preprocessing());
  } else {
    s.input = load_model_input(positional[0], s.model.info.preprocessing());
  }
  s.picture = to_image(s.input, s.model.info.preprocessing().normalization);
  // As the CLI makes it: IG and SmoothGrad then go through the cut after the stem.
  s.classifier = classifier_on(*s.model.network, Device::cpu());
  std::filesystem::create_directories(out);
  return s;
}

namespace {

// The first held-out sample whose object lies within columns [x0, x1) and is
// at least a fifth of the image wide, with a label other than `other`.
datasets::ShapeSample find_sample(int64_t size, int64_t x0, int64_t x1, int64_t other) {
  for (uint64_t i = 0;; ++i) {
    datasets::ShapeSample sample = datasets::make_shape_sample(datasets::kShapesTestSeed, i, size);
    if (sample.box.x0 >= x0 && sample.box.x1 <= x1 && sample.label != other &&
        sample.box.x1 - sample.box.x0 > size / 5)
      return sample;
  }
}

template <typename Values>
double largest_gap(const Values& a, const Values& b) {
  SALIENCY_CHECK(a.size() == b.size(), "max_abs_difference: ", a.size(), " vs ", b.size(),
                 " values");
  double largest = 0;
  for (size_t i = 0; i < a.size(); ++i)
    largest = std::max(largest, std::abs(double(a[i]) - double(b[i])));
  return largest;
}

}  // namespace

double max_abs_difference(const Tensor& a, const Tensor& b) {
  return largest_gap(a.to_vector(), b.to_vector());
}

double max_abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
  return largest_gap(a, b);
}

TwoObjects two_objects(int64_t size) {
  const datasets::ShapeSample left = find_sample(size, 0, size / 2 - 2, -1);
  const datasets::ShapeSample right = find_sample(size, size / 2 + 2, size, left.label);
  TwoObjects result{left.image, left.label, right.label};
  const size_t row = static_cast<size_t>(size * 3), half = static_cast<size_t>(size / 2 * 3);
  for (size_t y = 0; y < static_cast<size_t>(size); ++y)
    std::copy_n(right.image.pixels.begin() + y * row + half, row - half,
                result.image.pixels.begin() + y * row + half);
  return result;
}

void save(const Setup& setup, const std::string& file, const RgbImage& picture) {
  const std::string path = (std::filesystem::path(setup.out) / file).string();
  // Small inputs (the shapes model's 64 px) are enlarged so the pixels can be seen.
  const int64_t factor = std::max<int64_t>(1, 256 / std::max<int64_t>(1, picture.height));
  write_png(path, factor > 1 ? upscale_nearest(picture, factor) : picture);
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace saliency::examples
