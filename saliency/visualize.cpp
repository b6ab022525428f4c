#include "saliency/visualize.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>

#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "saliency/method_steps.h"

namespace saliency {
namespace {

using Rgb = std::array<double, 3>;

// Colormaps as evenly spaced anchor colours, interpolated linearly (sampled from the published
// maps: matplotlib's viridis and inferno, MATLAB's jet, Moreland's cool-warm).
const std::vector<Rgb>& anchors(const std::string& name) {
  static const std::vector<Rgb> viridis{
      {68, 1, 84},    {72, 40, 120},  {62, 74, 137},  {49, 104, 142}, {38, 130, 142},
      {31, 158, 137}, {53, 183, 121}, {109, 205, 89}, {180, 222, 44}, {253, 231, 37}};
  static const std::vector<Rgb> inferno{
      {0, 0, 4},     {27, 12, 65},   {74, 12, 107}, {120, 28, 109}, {165, 44, 96},
      {207, 68, 70}, {237, 105, 37}, {251, 155, 6}, {247, 209, 61}, {252, 255, 164}};
  static const std::vector<Rgb> jet{{0, 0, 128},   {0, 0, 255},     {0, 128, 255},
                                    {0, 255, 255}, {128, 255, 128}, {255, 255, 0},
                                    {255, 128, 0}, {255, 0, 0},     {128, 0, 0}};
  static const std::vector<Rgb> coolwarm{{59, 76, 192},   {98, 130, 234},  {141, 176, 254},
                                         {184, 208, 249}, {221, 221, 221}, {245, 196, 173},
                                         {244, 154, 123}, {222, 96, 77},   {180, 4, 38}};
  if (name == "viridis") return viridis;
  if (name == "inferno") return inferno;
  if (name == "jet") return jet;
  if (name == "coolwarm") return coolwarm;
  throw InvalidArgument(
      concat("unknown colormap '", name, "' (known: viridis, inferno, jet, coolwarm)"));
}

Rgb sample(const std::vector<Rgb>& colors, double t) {
  t = std::clamp(t, 0.0, 1.0) * double(colors.size() - 1);
  const size_t low = std::min(static_cast<size_t>(t), colors.size() - 2);
  const double f = t - double(low);
  Rgb out;
  for (int c = 0; c < 3; ++c) out[c] = colors[low][c] * (1 - f) + colors[low + 1][c] * f;
  return out;
}

uint8_t to_byte(double v) {
  return static_cast<uint8_t>(std::lround(std::clamp(v, 0.0, 255.0)));
}

}  // namespace

ChannelReduction default_reduction(Method method) {
  return is_signed(method) ? ChannelReduction::Sum : ChannelReduction::MaxAbs;
}

bool is_signed(Method method) {
  return method == Method::IntegratedGradients || method == Method::GradientXInput ||
         method == Method::Lrp;
}

std::vector<float> reduce_to_map(const Tensor& attribution, ChannelReduction reduction,
                                 int64_t height, int64_t width, const std::string& upsampling) {
  SALIENCY_CHECK(attribution.rank() == 4 && attribution.size(0) == 1,
                 "reduce_to_map: expected an attribution [1, C, h, w], got ", attribution.shape());
  autograd::NoGradGuard no_graph;
  Tensor map = attribution.to(DType::Float32);
  if (map.size(2) != height || map.size(3) != width)
    map = methods::upsample_map(map, height, width, upsampling);
  const int64_t channels = map.size(1), plane = height * width;
  const float* values = map.data<float>();
  std::vector<float> out(static_cast<size_t>(plane), 0.0f);
  for (int64_t i = 0; i < plane; ++i) {
    float reduced = 0;
    for (int64_t c = 0; c < channels; ++c) {
      const float v = values[c * plane + i];
      if (reduction == ChannelReduction::Sum)
        reduced += v;
      else
        reduced = std::max(reduced, std::abs(v));
    }
    out[static_cast<size_t>(i)] = reduced;
  }
  return out;
}

RgbImage colorize(const std::vector<float>& map, int64_t height, int64_t width,
                  const std::string& colormap, bool signed_map, double percentile) {
  SALIENCY_CHECK(int64_t(map.size()) == height * width, "colorize: ", map.size(), " values for a ",
                 height, " x ", width, " picture");
  SALIENCY_CHECK(percentile > 0 && percentile <= 100, "colorize: percentile ", percentile,
                 " must lie in (0, 100]");
  const std::vector<Rgb>& colors = anchors(colormap);
  std::vector<float> magnitudes(map.size());
  std::transform(map.begin(), map.end(), magnitudes.begin(), [](float v) { return std::abs(v); });
  const size_t rank = static_cast<size_t>(std::ceil(percentile / 100.0 * double(map.size()))) - 1;
  std::nth_element(magnitudes.begin(), magnitudes.begin() + rank, magnitudes.end());
  const double scale = magnitudes[rank] > 0 ? magnitudes[rank] : 1.0;
  RgbImage out{width, height, std::vector<uint8_t>(map.size() * 3)};
  for (size_t i = 0; i < map.size(); ++i) {
    const double t = signed_map ? 0.5 + 0.5 * map[i] / scale : map[i] / scale;
    const Rgb color = sample(colors, t);
    for (int c = 0; c < 3; ++c) out.pixels[i * 3 + c] = to_byte(color[c]);
  }
  return out;
}

RgbImage overlay(const RgbImage& image, const RgbImage& heat, double alpha) {
  SALIENCY_CHECK(image.width == heat.width && image.height == heat.height, "overlay: image ",
                 image.width, " x ", image.height, " and map ", heat.width, " x ", heat.height,
                 " differ in size");
  RgbImage out = image;
  for (size_t i = 0; i < out.pixels.size(); ++i)
    out.pixels[i] = to_byte(alpha * heat.pixels[i] + (1 - alpha) * image.pixels[i]);
  return out;
}

RgbImage to_image(const Tensor& normalized, const Normalization& normalization) {
  SALIENCY_CHECK(normalized.rank() == 4 && normalized.size(0) == 1 && normalized.size(1) == 3,
                 "to_image: expected [1, 3, H, W], got ", normalized.shape());
  const Tensor x = normalized.to(DType::Float32);
  const int64_t height = x.size(2), width = x.size(3), plane = height * width;
  RgbImage out{width, height, std::vector<uint8_t>(static_cast<size_t>(plane * 3))};
  const float* values = x.data<float>();
  for (int c = 0; c < 3; ++c)
    for (int64_t i = 0; i < plane; ++i)
      out.pixels[static_cast<size_t>(i * 3 + c)] =
          to_byte(255.0 * (values[c * plane + i] * normalization.std[c] + normalization.mean[c]));
  return out;
}

void draw_text(RgbImage& image, int64_t left, int64_t top, const std::string& text,
               const std::array<uint8_t, 3>& colour, int scale) {
  // stb_easy_font turns text into axis-aligned quads (16-byte vertices, 4 per quad); fill them.
  std::vector<char> vertices(64 * 1024);
  std::string copy = text;
  const int quads = stb_easy_font_print(0, 0, copy.data(), nullptr, vertices.data(),
                                        static_cast<int>(vertices.size()));
  for (int q = 0; q < quads; ++q) {
    float corner[4][2];
    for (int v = 0; v < 4; ++v) std::memcpy(corner[v], &vertices[(q * 4 + v) * 16], 8);
    const int64_t x0 = left + int64_t(corner[0][0] * float(scale)),
                  y0 = top + int64_t(corner[0][1] * float(scale));
    const int64_t x1 = left + int64_t(corner[2][0] * float(scale)),
                  y1 = top + int64_t(corner[2][1] * float(scale));
    for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, image.height); ++y)
      for (int64_t x = std::max<int64_t>(x0, 0); x < std::min(x1, image.width); ++x)
        for (int c = 0; c < 3; ++c)
          image.pixels[static_cast<size_t>((y * image.width + x) * 3 + c)] = colour[size_t(c)];
  }
}

int64_t text_width(const std::string& text, int scale) {
  std::string copy = text;
  return int64_t(stb_easy_font_width(copy.data())) * scale;
}

RgbImage with_caption(const RgbImage& panel, const std::vector<std::string>& lines, int scale) {
  const int64_t kLineHeight = 12 * scale, kMargin = 2 * scale;
  const int64_t band = kMargin * 2 + kLineHeight * int64_t(lines.size());
  RgbImage out{
      panel.width, panel.height + band,
      std::vector<uint8_t>(static_cast<size_t>(panel.width * (panel.height + band) * 3), 255)};
  std::copy(panel.pixels.begin(), panel.pixels.end(), out.pixels.begin());
  for (size_t line = 0; line < lines.size(); ++line)
    draw_text(out, kMargin, panel.height + kMargin + int64_t(line) * kLineHeight, lines[line],
              {0, 0, 0}, scale);
  return out;
}

RgbImage side_by_side(const std::vector<RgbImage>& images, int64_t gap) {
  SALIENCY_CHECK(!images.empty(), "side_by_side: no images");
  const int64_t height = images.front().height;
  int64_t width = -gap;
  for (const RgbImage& image : images) {
    SALIENCY_CHECK(image.height == height, "side_by_side: heights differ");
    width += image.width + gap;
  }
  RgbImage out{width, height, std::vector<uint8_t>(static_cast<size_t>(width * height * 3), 255)};
  int64_t left = 0;
  for (const RgbImage& image : images) {
    for (int64_t y = 0; y < height; ++y)
      std::copy_n(&image.pixels[static_cast<size_t>(y * image.width * 3)], image.width * 3,
                  &out.pixels[static_cast<size_t>((y * width + left) * 3)]);
    left += image.width + gap;
  }
  return out;
}

void write_png(const std::string& path, const RgbImage& image) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  const std::string partial = path + ".partial";
  if (!stbi_write_png(partial.c_str(), int(image.width), int(image.height), 3, image.pixels.data(),
                      int(image.width * 3)))
    throw Error(concat(path, ": cannot write PNG"));
  std::filesystem::rename(partial, path, error);
  if (error) throw Error(concat(path, ": cannot write PNG (", error.message(), ")"));
}

RgbImage colorize_for(Method method, const std::vector<float>& map, int64_t height, int64_t width,
                      const std::string& colormap, double percentile) {
  const std::string name =
      !colormap.empty() ? colormap : (is_signed(method) ? "coolwarm" : "inferno");
  return colorize(map, height, width, name, is_signed(method), percentile);
}

RgbImage render_heatmap(const Explanation& explanation, int64_t height, int64_t width,
                        const std::string& upsampling, const std::string& colormap,
                        double percentile) {
  const std::vector<float> map = reduce_to_map(
      explanation.attribution, default_reduction(explanation.method), height, width, upsampling);
  return colorize_for(explanation.method, map, height, width, colormap, percentile);
}

RgbImage upscale_nearest(const RgbImage& image, int64_t factor) {
  SALIENCY_CHECK(factor >= 1 && factor <= 64, "upscale_nearest: factor ", factor,
                 " outside [1, 64]");
  RgbImage out{image.width * factor, image.height * factor, {}};
  out.pixels.resize(static_cast<size_t>(out.width * out.height * 3));
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x)
      for (int c = 0; c < 3; ++c)
        out.pixels[static_cast<size_t>((y * out.width + x) * 3 + c)] =
            image.at(y / factor, x / factor, c);
  return out;
}

void draw_box(RgbImage& image, const Box& box, const std::array<uint8_t, 3>& colour) {
  auto paint = [&](int64_t y, int64_t x) {
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
    for (int c = 0; c < 3; ++c)
      image.pixels[static_cast<size_t>((y * image.width + x) * 3 + c)] = colour[c];
  };
  for (int64_t x = box.x0; x < box.x1; ++x) paint(box.y0, x), paint(box.y1 - 1, x);
  for (int64_t y = box.y0; y < box.y1; ++y) paint(y, box.x0), paint(y, box.x1 - 1);
}

}  // namespace saliency
