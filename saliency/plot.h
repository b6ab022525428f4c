#pragma once
// Line plots as PNG-ready pictures, for the curves of `saliency eval` (deletion, insertion,
// sensitivity-n, the randomization cascade): axes with ticks, one coloured line per series,
// a legend. No plotting library: a few hundred pixels of lines and stb_easy_font text.
#include <string>
#include <vector>

#include "saliency/image.h"

namespace saliency {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;  // non-finite y values leave a gap
};

struct PlotSpec {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  bool log_x = false;
  // The y range; when low >= high it is taken from the data.
  double y_low = 0, y_high = 0;
  // Tick labels for x instead of numbers (e.g. layer names), placed at x = 0, 1, 2, ...
  std::vector<std::string> x_tick_labels;
  int64_t width = 720, height = 440;
};

RgbImage line_plot(const PlotSpec& spec);

}  // namespace saliency
