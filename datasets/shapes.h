#pragma once
// "shapes": a synthetic, seeded image dataset whose right answer is known. Each 64x64 RGB image
// holds one object of six classes (circle, square, triangle, star, cross, ring) with random size,
// position, rotation and colour, on a textured background with soft distractor blobs and thin
// strokes; its bounding box and pixel mask come with it, so saliency maps can be scored against
// where the evidence really is (pointing game). Sample i of a seed is the same on every platform.
#include <cstdint>
#include <string>
#include <vector>

#include "saliency/image.h"
#include "saliency/metrics.h"
#include "train/data_loader.h"

namespace saliency::datasets {

// The class names in label order.
const std::vector<std::string>& shape_class_names();

struct ShapeSample {
  RgbImage image;
  int64_t label = 0;
  Box box;                    // the object's mask's bounding box
  std::vector<uint8_t> mask;  // height x width, 1 where the object covers at least half a pixel
};

// Seeds of the standard splits: training draws fresh samples from kTrainSeed; the shipped model's
// accuracy and the demo's pointing game use kTestSeed, which training never sees.
inline constexpr uint64_t kShapesTrainSeed = 1;
inline constexpr uint64_t kShapesTestSeed = 2;

// Sample `index` of the stream `seed` (every image is independent of the others).
ShapeSample make_shape_sample(uint64_t seed, uint64_t index, int64_t image_size = 64);

// The first `size` samples of a stream as a dataset (rendered up front, 12 kB each at 64x64):
// images normalized with ImageNet's mean and std as `to_tensor` does, so a PNG written from a
// sample and loaded back gives the same tensor.
class ShapesDataset final : public train::Dataset {
 public:
  ShapesDataset(uint64_t seed, int64_t size, int64_t image_size = 64);
  int64_t size() const override { return size_; }
  Shape sample_shape() const override { return Shape{3, image_size_, image_size_}; }
  int64_t get(int64_t index, float* destination) const override;

 private:
  int64_t size_, image_size_;
  std::vector<uint8_t> pixels_;  // size x (H x W x RGB)
  std::vector<int64_t> labels_;
};

}  // namespace saliency::datasets
