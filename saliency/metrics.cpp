#include "saliency/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/generator.h"

namespace saliency {

Point map_maximum(const std::vector<float>& map, int64_t height, int64_t width) {
  SALIENCY_CHECK(height > 0 && width > 0 && static_cast<int64_t>(map.size()) == height * width,
                 "map_maximum: a map of ", map.size(), " values is not ", height, "x", width);
  const auto best = std::max_element(map.begin(), map.end()) - map.begin();
  return {best % width, best / width};
}

bool pointing_game_hit(const std::vector<float>& map, int64_t height, int64_t width,
                       const std::vector<Box>& boxes, double tolerance) {
  SALIENCY_CHECK(tolerance >= 0, "pointing game: tolerance must be >= 0, got ", tolerance);
  const Point peak = map_maximum(map, height, width);
  for (const Box& box : boxes) {
    if (box.x1 <= box.x0 || box.y1 <= box.y0) continue;  // empty
    // Distance from the peak pixel to the nearest pixel of the box.
    const double dx = double(std::max({box.x0 - peak.x, int64_t(0), peak.x - (box.x1 - 1)}));
    const double dy = double(std::max({box.y0 - peak.y, int64_t(0), peak.y - (box.y1 - 1)}));
    if (std::hypot(dx, dy) <= tolerance) return true;
  }
  return false;
}

bool pointing_game_hit_mask(const std::vector<float>& map, int64_t height, int64_t width,
                            const std::vector<uint8_t>& mask, double tolerance) {
  SALIENCY_CHECK(static_cast<int64_t>(mask.size()) == height * width, "pointing game: a mask of ",
                 mask.size(), " values is not ", height, "x", width);
  SALIENCY_CHECK(tolerance >= 0, "pointing game: tolerance must be >= 0, got ", tolerance);
  const Point peak = map_maximum(map, height, width);
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      if (mask[static_cast<size_t>(y * width + x)] &&
          std::hypot(double(x - peak.x), double(y - peak.y)) <= tolerance)
        return true;
  return false;
}

std::vector<float> random_map(int64_t height, int64_t width, uint64_t seed) {
  Generator generator(seed);
  std::vector<float> map(static_cast<size_t>(height * width));
  for (float& value : map) value = float(generator.uniform());
  return map;
}

std::vector<float> center_map(int64_t height, int64_t width) {
  std::vector<float> map(static_cast<size_t>(height * width));
  const double cy = (height - 1) / 2.0, cx = (width - 1) / 2.0;
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x) map[y * width + x] = float(-std::hypot(y - cy, x - cx));
  return map;
}

}  // namespace saliency
