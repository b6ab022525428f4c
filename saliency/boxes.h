#pragma once
// Ground-truth boxes for the pointing game, read from a small file and carried from the
// original image into the model's input (after resize and centre crop).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "saliency/image.h"
#include "saliency/metrics.h"

namespace saliency {

struct LabeledBox {
  Box box;                 // in the original image's pixels, [x0, x1) x [y0, y1)
  int64_t label = -1;      // class index; -1 when the file gives a name or nothing
  std::string label_name;  // class name when the file gives one; empty: any class
};

// Boxes by image: the key is the image path as listed, and its file name alone also matches.
class BoxIndex {
 public:
  // JSON: {"IMAGE": [{"box": [x0, y0, x1, y1], "class": 281 | "tabby"}, ...], ...}
  // CSV:  image,class,x0,y0,x1,y1 per line (an optional header; class may be empty).
  // Errors name the file and, for CSV, the line.
  static BoxIndex read(const std::string& path);
  // The boxes of `image_path` (by full path, then by file name); empty when none.
  const std::vector<LabeledBox>& find(const std::string& image_path) const;
  void add(const std::string& image, LabeledBox box) { boxes_[image].push_back(std::move(box)); }
  size_t size() const { return boxes_.size(); }

 private:
  std::map<std::string, std::vector<LabeledBox>> boxes_;
};

// Whether the box belongs to `target` (a box without a class belongs to every class).
bool box_matches(const LabeledBox& box, int64_t target, const std::vector<std::string>& labels);

// The box in the model input's pixels after preprocess() (resize of the shorter side, centre
// crop), clipped to the input; x0 >= x1 or y0 >= y1 when it lies outside the crop.
Box box_in_model_input(const Box& box, int64_t image_width, int64_t image_height,
                       const Preprocessing& preprocessing);

}  // namespace saliency
