#include "datasets/shapes.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "core/error.h"
#include "core/generator.h"
#include "kernels/cpu/parallel.h"

namespace saliency::datasets {
namespace {

using Rgb = std::array<double, 3>;
constexpr double kPi = std::numbers::pi;
constexpr int kSupersampling = 4;  // 4x4 sub-pixel samples for anti-aliased edges

enum ShapeClass { Circle, Square, Triangle, Star, Cross, Ring };
constexpr int kClassCount = 6;

// Each stream and index gets its own generator, so samples are independent and reproducible.
Generator sample_generator(uint64_t seed, uint64_t index) {
  uint64_t state = seed * 0x9E3779B97F4A7C15ull ^ (index + 0x632BE59BD9B4E019ull);
  state ^= state >> 31;
  state *= 0xBF58476D1CE4E5B9ull;
  state ^= state >> 27;
  return Generator(state);
}

double between(Generator& g, double lo, double hi) {
  return lo + (hi - lo) * g.uniform();
}

Rgb hsv_to_rgb(double hue, double saturation, double value) {
  const double h = std::fmod(hue, 1.0) * 6.0;
  const double c = value * saturation, x = c * (1 - std::abs(std::fmod(h, 2.0) - 1)), m = value - c;
  const int sector = static_cast<int>(h) % 6;
  static constexpr int kOrder[6][3] = {{0, 1, 2}, {1, 0, 2}, {2, 0, 1},
                                       {2, 1, 0}, {1, 2, 0}, {0, 2, 1}};
  const double parts[3] = {c, x, 0.0};
  Rgb rgb{};
  for (int ch = 0; ch < 3; ++ch) rgb[ch] = parts[kOrder[sector][ch]] + m;
  return rgb;
}

double luminance(const Rgb& c) {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
}

bool inside_polygon(double u, double v, const std::vector<std::array<double, 2>>& polygon) {
  bool inside = false;  // even-odd rule
  for (size_t i = 0, j = polygon.size() - 1; i < polygon.size(); j = i++) {
    const auto& a = polygon[i];
    const auto& b = polygon[j];
    if ((a[1] > v) != (b[1] > v) && u < (b[0] - a[0]) * (v - a[1]) / (b[1] - a[1]) + a[0])
      inside = !inside;
  }
  return inside;
}

const std::vector<std::array<double, 2>>& star_polygon() {
  static const std::vector<std::array<double, 2>> polygon = [] {
    std::vector<std::array<double, 2>> points;
    for (int k = 0; k < 10; ++k) {
      const double radius = k % 2 == 0 ? 1.0 : 0.45, angle = kPi / 2 + k * kPi / 5;
      points.push_back({radius * std::cos(angle), radius * std::sin(angle)});
    }
    return points;
  }();
  return polygon;
}

// Whether (u, v), in the object's frame scaled so its outer radius is 1, lies inside the shape.
bool inside_shape(int shape, double u, double v) {
  const double rho2 = u * u + v * v;
  switch (shape) {
    case Circle:
      return rho2 <= 1.0;
    case Square:
      return std::max(std::abs(u), std::abs(v)) <= 0.78;
    case Triangle:  // equilateral, circumradius 1: inradius 0.5 to each side
      for (int k = 0; k < 3; ++k) {
        const double normal = -kPi / 2 + k * 2 * kPi / 3;
        if (u * std::cos(normal) + v * std::sin(normal) > 0.5) return false;
      }
      return true;
    case Star:
      return inside_polygon(u, v, star_polygon());
    case Cross:
      return (std::abs(u) <= 0.3 && std::abs(v) <= 0.95) ||
             (std::abs(v) <= 0.3 && std::abs(u) <= 0.95);
    case Ring:
      return rho2 <= 1.0 && rho2 >= 0.55 * 0.55;
  }
  return false;
}

struct Canvas {
  int64_t size;
  std::vector<double> rgb;  // [y][x][channel] in [0, 1]
  Rgb& at(int64_t y, int64_t x) { return *reinterpret_cast<Rgb*>(&rgb[(y * size + x) * 3]); }
  void blend(int64_t y, int64_t x, const Rgb& colour, double alpha) {
    Rgb& pixel = at(y, x);
    for (int ch = 0; ch < 3; ++ch) pixel[ch] += alpha * (colour[ch] - pixel[ch]);
  }
};

// Two colours mixed by a few random plane waves, plus per-pixel grain.
void paint_texture(Canvas& canvas, Generator& g, const Rgb& first, const Rgb& second) {
  struct Wave {
    double kx, ky, phase, weight;
  };
  std::array<Wave, 3> waves{};
  for (Wave& w : waves) {
    const double frequency = between(g, 0.05, 0.5), angle = between(g, 0, kPi);
    w = {frequency * std::cos(angle), frequency * std::sin(angle), between(g, 0, 2 * kPi),
         between(g, 0.2, 1.0)};
  }
  double total_weight = 0;
  for (const Wave& w : waves) total_weight += w.weight;
  for (int64_t y = 0; y < canvas.size; ++y)
    for (int64_t x = 0; x < canvas.size; ++x) {
      double mix = 0;
      for (const Wave& w : waves) mix += w.weight * std::sin(w.kx * x + w.ky * y + w.phase);
      mix = 0.5 + 0.5 * mix / total_weight;
      Rgb& pixel = canvas.at(y, x);
      for (int ch = 0; ch < 3; ++ch)
        pixel[ch] = first[ch] + mix * (second[ch] - first[ch]) + 0.03 * g.normal();
    }
}

// Soft Gaussian blobs and thin strokes: clutter with no hard-edged silhouette of any class.
void paint_distractors(Canvas& canvas, Generator& g, double scale) {
  const int blobs = 2 + static_cast<int>(g.uniform() * 4);
  for (int b = 0; b < blobs; ++b) {
    const double cx = between(g, 0, canvas.size), cy = between(g, 0, canvas.size);
    const double sigma = between(g, 1.5, 4.5) * scale;
    const Rgb colour = hsv_to_rgb(g.uniform(), between(g, 0.3, 1), between(g, 0.2, 1));
    const double strength = between(g, 0.5, 0.9);
    // Beyond 4 sigma a blob changes no 8-bit value.
    const auto lo = [&](double c) { return std::max<int64_t>(0, int64_t(c - 4 * sigma)); };
    const auto hi = [&](double c) {
      return std::min<int64_t>(canvas.size, int64_t(c + 4 * sigma) + 1);
    };
    for (int64_t y = lo(cy); y < hi(cy); ++y)
      for (int64_t x = lo(cx); x < hi(cx); ++x) {
        const double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        canvas.blend(y, x, colour, strength * std::exp(-d2 / (2 * sigma * sigma)));
      }
  }
  const int strokes = static_cast<int>(g.uniform() * 3);
  for (int s = 0; s < strokes; ++s) {
    const double x0 = between(g, 0, canvas.size), y0 = between(g, 0, canvas.size);
    const double angle = between(g, 0, 2 * kPi), length = between(g, 8, 24) * scale;
    const Rgb colour = hsv_to_rgb(g.uniform(), between(g, 0, 1), between(g, 0, 1));
    for (double t = 0; t <= length; t += 0.5) {
      const auto x = static_cast<int64_t>(x0 + t * std::cos(angle));
      const auto y = static_cast<int64_t>(y0 + t * std::sin(angle));
      if (x >= 0 && y >= 0 && x < canvas.size && y < canvas.size) canvas.blend(y, x, colour, 0.6);
    }
  }
}

}  // namespace

const std::vector<std::string>& shape_class_names() {
  static const std::vector<std::string> names{"circle", "square", "triangle",
                                              "star",   "cross",  "ring"};
  return names;
}

ShapeSample make_shape_sample(uint64_t seed, uint64_t index, int64_t image_size) {
  SALIENCY_CHECK(image_size >= 32 && image_size <= 1024, "shapes: image size ", image_size,
                 " outside [32, 1024]");
  Generator g = sample_generator(seed, index);
  const double scale = double(image_size) / 64.0;
  Canvas canvas{image_size, std::vector<double>(static_cast<size_t>(image_size * image_size * 3))};

  const Rgb background_a = hsv_to_rgb(g.uniform(), between(g, 0, 0.6), between(g, 0.2, 0.9));
  const Rgb background_b = hsv_to_rgb(g.uniform(), between(g, 0, 0.6), between(g, 0.2, 0.9));
  paint_texture(canvas, g, background_a, background_b);
  paint_distractors(canvas, g, scale);

  ShapeSample sample;
  sample.label = static_cast<int64_t>(g.uniform() * kClassCount);
  const double radius = between(g, 7, 12) * scale;
  const double cx = between(g, radius + 1, image_size - radius - 1);
  const double cy = between(g, radius + 1, image_size - radius - 1);
  const double rotation = between(g, 0, 2 * kPi);
  // Bright objects on dark backgrounds and dark ones on bright: visible, but not by colour alone.
  const double background_luminance = (luminance(background_a) + luminance(background_b)) / 2;
  const double value = background_luminance < 0.5 ? between(g, 0.75, 1.0) : between(g, 0.0, 0.3);
  const Rgb colour = hsv_to_rgb(g.uniform(), between(g, 0.3, 1.0), value);

  sample.mask.assign(static_cast<size_t>(image_size * image_size), 0);
  sample.box = {image_size, image_size, 0, 0};
  const double c = std::cos(rotation), s = std::sin(rotation);
  const auto lo = [&](double centre) {
    return std::max<int64_t>(0, static_cast<int64_t>(centre - radius - 1));
  };
  const auto hi = [&](double centre) {
    return std::min<int64_t>(image_size, static_cast<int64_t>(centre + radius + 2));
  };
  for (int64_t y = lo(cy); y < hi(cy); ++y)
    for (int64_t x = lo(cx); x < hi(cx); ++x) {
      int covered = 0;
      for (int sy = 0; sy < kSupersampling; ++sy)
        for (int sx = 0; sx < kSupersampling; ++sx) {
          const double dx = x + (sx + 0.5) / kSupersampling - cx;
          const double dy = y + (sy + 0.5) / kSupersampling - cy;
          covered += inside_shape(static_cast<int>(sample.label), (c * dx + s * dy) / radius,
                                  (-s * dx + c * dy) / radius);
        }
      if (covered == 0) continue;
      const double coverage = double(covered) / (kSupersampling * kSupersampling);
      canvas.blend(y, x, colour, coverage);
      if (coverage >= 0.5) {
        sample.mask[static_cast<size_t>(y * image_size + x)] = 1;
        sample.box = {std::min(sample.box.x0, x), std::min(sample.box.y0, y),
                      std::max(sample.box.x1, x + 1), std::max(sample.box.y1, y + 1)};
      }
    }

  sample.image.width = sample.image.height = image_size;
  sample.image.pixels.resize(canvas.rgb.size());
  for (size_t i = 0; i < canvas.rgb.size(); ++i)
    sample.image.pixels[i] =
        static_cast<uint8_t>(std::lround(std::clamp(canvas.rgb[i], 0.0, 1.0) * 255.0));
  return sample;
}

ShapesDataset::ShapesDataset(uint64_t seed, int64_t size, int64_t image_size)
    : size_(size), image_size_(image_size) {
  SALIENCY_CHECK(size >= 1 && size <= 10'000'000, "shapes: dataset size ", size,
                 " outside [1, 10000000]");
  const size_t pixels = static_cast<size_t>(3 * image_size * image_size);
  pixels_.resize(static_cast<size_t>(size) * pixels);
  labels_.resize(static_cast<size_t>(size));
  // Rendered once (about a millisecond each) and kept as 8-bit RGB: epochs then cost only the
  // conversion to normalized floats.
  kernels::cpu::parallel_for(0, size, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const ShapeSample sample = make_shape_sample(seed, static_cast<uint64_t>(i), image_size);
      std::copy(sample.image.pixels.begin(), sample.image.pixels.end(),
                pixels_.begin() + static_cast<ptrdiff_t>(i * pixels));
      labels_[static_cast<size_t>(i)] = sample.label;
    }
  });
}

int64_t ShapesDataset::get(int64_t index, float* destination) const {
  const int64_t plane = image_size_ * image_size_;
  normalize_rgb(pixels_.data() + index * 3 * plane, plane, Normalization{}, destination);
  return labels_[static_cast<size_t>(index)];
}

}  // namespace saliency::datasets
