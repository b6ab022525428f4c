#include "saliency/plot.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/error.h"
#include "saliency/visualize.h"

namespace saliency {
namespace {

using Colour = std::array<uint8_t, 3>;

// Tableau's ten categorical colours, then darker variants.
const Colour kPalette[] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                           {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                           {188, 189, 34},  {23, 190, 207}, {15, 60, 90},    {128, 64, 7}};
constexpr int64_t kLeft = 70, kRight = 190, kTop = 36, kBottom = 50;

void put(RgbImage& image, int64_t x, int64_t y, const Colour& colour) {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  for (int c = 0; c < 3; ++c)
    image.pixels[static_cast<size_t>((y * image.width + x) * 3 + c)] = colour[size_t(c)];
}

// A line two pixels thick, by stepping along its longer axis.
void draw_line(RgbImage& image, double x0, double y0, double x1, double y1, const Colour& colour) {
  const int64_t steps =
      std::max<int64_t>(1, int64_t(std::max(std::abs(x1 - x0), std::abs(y1 - y0))));
  for (int64_t i = 0; i <= steps; ++i) {
    const double t = double(i) / double(steps);
    const auto x = int64_t(std::lround(x0 + t * (x1 - x0)));
    const auto y = int64_t(std::lround(y0 + t * (y1 - y0)));
    put(image, x, y, colour);
    put(image, x + 1, y, colour);
    put(image, x, y + 1, colour);
  }
}

std::string format_tick(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3g", value);
  return text;
}

struct Range {
  double low = std::numeric_limits<double>::infinity();
  double high = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  void settle() {
    if (!std::isfinite(low)) low = 0, high = 1;
    if (high - low < 1e-12) low -= 0.5, high += 0.5;
  }
};

}  // namespace

RgbImage line_plot(const PlotSpec& spec) {
  SALIENCY_CHECK(spec.width > kLeft + kRight + 50 && spec.height > kTop + kBottom + 50,
                 "line_plot: ", spec.width, " x ", spec.height, " is too small");
  RgbImage image{spec.width, spec.height,
                 std::vector<uint8_t>(static_cast<size_t>(spec.width * spec.height * 3), 255)};
  auto x_of = [&](double x) { return spec.log_x ? std::log10(std::max(x, 1e-12)) : x; };
  Range xr, yr;
  for (const PlotSeries& s : spec.series) {
    SALIENCY_CHECK(s.x.size() == s.y.size(), "line_plot: series '", s.name, "' has ", s.x.size(),
                   " x and ", s.y.size(), " y values");
    for (size_t i = 0; i < s.x.size(); ++i) {
      xr.add(x_of(s.x[i]));
      yr.add(s.y[i]);
    }
  }
  if (spec.y_low < spec.y_high) yr.low = spec.y_low, yr.high = spec.y_high;
  xr.settle();
  yr.settle();
  const double plot_w = double(spec.width - kLeft - kRight),
               plot_h = double(spec.height - kTop - kBottom);
  auto px = [&](double x) {
    return double(kLeft) + (x_of(x) - xr.low) / (xr.high - xr.low) * plot_w;
  };
  auto py = [&](double y) { return double(kTop) + (yr.high - y) / (yr.high - yr.low) * plot_h; };
  const Colour black{0, 0, 0}, grey{220, 220, 220};

  for (int tick = 0; tick <= 4; ++tick) {  // y grid and labels
    const double y = yr.low + (yr.high - yr.low) * tick / 4.0;
    draw_line(image, double(kLeft), py(y), double(kLeft) + plot_w, py(y), grey);
    const std::string label = format_tick(y);
    draw_text(image, kLeft - 8 - text_width(label), int64_t(py(y)) - 6, label, black);
  }
  if (!spec.x_tick_labels.empty()) {
    for (size_t i = 0; i < spec.x_tick_labels.size(); ++i)
      draw_text(image, int64_t(px(double(i))) - text_width(spec.x_tick_labels[i]) / 2,
                kTop + int64_t(plot_h) + 8, spec.x_tick_labels[i], black);
  } else {
    for (int tick = 0; tick <= 4; ++tick) {
      const double xl = xr.low + (xr.high - xr.low) * tick / 4.0;
      const double x = spec.log_x ? std::pow(10.0, xl) : xl;
      const std::string label = format_tick(x);
      draw_text(image, int64_t(px(x)) - text_width(label) / 2, kTop + int64_t(plot_h) + 8, label,
                black);
    }
  }
  draw_line(image, double(kLeft), double(kTop), double(kLeft), double(kTop) + plot_h, black);
  draw_line(image, double(kLeft), double(kTop) + plot_h, double(kLeft) + plot_w,
            double(kTop) + plot_h, black);
  draw_text(image, kLeft, 10, spec.title, black, 2);
  draw_text(image, kLeft + int64_t(plot_w) / 2 - text_width(spec.x_label) / 2, spec.height - 22,
            spec.x_label, black);
  draw_text(image, 4, kTop - 16, spec.y_label, black);

  for (size_t k = 0; k < spec.series.size(); ++k) {
    const PlotSeries& s = spec.series[k];
    const Colour& colour = kPalette[k % std::size(kPalette)];
    for (size_t i = 1; i < s.x.size(); ++i)
      if (std::isfinite(s.y[i - 1]) && std::isfinite(s.y[i]))
        draw_line(image, px(s.x[i - 1]), py(s.y[i - 1]), px(s.x[i]), py(s.y[i]), colour);
    const int64_t legend_y = kTop + 6 + int64_t(k) * 18;
    const int64_t legend_x = spec.width - kRight + 16;
    for (int64_t dy = 0; dy < 10; ++dy)
      for (int64_t dx = 0; dx < 16; ++dx) put(image, legend_x + dx, legend_y + dy, colour);
    draw_text(image, legend_x + 22, legend_y, s.name, black);
  }
  return image;
}

}  // namespace saliency
