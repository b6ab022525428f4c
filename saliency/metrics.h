#pragma once
// Metrics that judge saliency maps against ground truth: the pointing game (Zhang et al. 2016,
// "Top-down neural attention by excitation backprop"). The metrics that judge maps against the
// model live beside it: deletion / insertion (deletion.h), sensitivity-n (sensitivity.h), the
// model randomization test (sanity.h); ground-truth boxes from files in boxes.h.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace saliency {

// An axis-aligned box of pixels [x0, x1) x [y0, y1).
struct Box {
  int64_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
  bool contains(double x, double y) const { return x >= x0 && x < x1 && y >= y0 && y < y1; }
};

struct Point {
  int64_t x = 0, y = 0;
};

// The position of the map's largest value (the first in row-major order on ties).
Point map_maximum(const std::vector<float>& map, int64_t height, int64_t width);

// Pointing game: a hit when the map's maximum lies within `tolerance` pixels (Euclidean) of a
// ground-truth box of the target class. The paper uses 15 px on images of about 224 px.
bool pointing_game_hit(const std::vector<float>& map, int64_t height, int64_t width,
                       const std::vector<Box>& boxes, double tolerance = 15.0);

// The same against a pixel mask (height x width, non-zero on the object): stricter than a box
// for shapes that do not fill it (a ring's hole, the corners around a star).
bool pointing_game_hit_mask(const std::vector<float>& map, int64_t height, int64_t width,
                            const std::vector<uint8_t>& mask, double tolerance);

// The two baselines a method must beat: a map whose maximum is a uniformly random pixel
// (seeded), and one whose maximum is the image centre.
std::vector<float> random_map(int64_t height, int64_t width, uint64_t seed);
std::vector<float> center_map(int64_t height, int64_t width);

}  // namespace saliency
