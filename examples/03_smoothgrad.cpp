// Example 03: SmoothGrad (Smilkov et al. 2017) and what its two knobs do.
//
//   S(x) = 1/n sum_k d y_t / d x at (x + e_k),  e_k ~ N(0, sigma^2),
//   sigma = noise level * (max x - min x)
//
// Averaging the gradient over noisy copies removes the speckle of example 01's map. The grid
// shows noise levels down the rows (0 is the plain gradient) and sample counts across; too
// little noise leaves speckle, too much washes the object out, and more samples only make a
// given level smoother. Each cell's time is printed: n samples cost n gradients.
//
// Run: 03_smoothgrad [IMAGE [WEIGHTS]] [--out DIR]
#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "examples/common/example.h"
#include "saliency/visualize.h"

using namespace saliency;

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "03_smoothgrad");
  const int64_t target = top_class(s.classifier, s.input);
  const int64_t height = s.input.size(2), width = s.input.size(3);
  std::vector<RgbImage> rows;
  for (double level : {0.0, 0.1, 0.2, 0.4}) {
    std::vector<RgbImage> row;
    for (int64_t samples : {5, 20, 50}) {
      MethodOptions options;
      options.smoothgrad.noise_level = level;
      options.smoothgrad.samples = samples;
      options.smoothgrad.base = Method::Vanilla;  // average |gradient|, as the paper's figures
      options.batch_size = 25;
      const auto start = std::chrono::steady_clock::now();
      const Explanation e = explain(s.classifier, s.input, Method::SmoothGrad, target, options);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
      const auto map = reduce_to_map(e.attribution, ChannelReduction::MaxAbs, height, width);
      std::printf("noise %.1f, %2lld samples: %7.1f ms\n", level, static_cast<long long>(samples),
                  ms);
      row.push_back(colorize(map, height, width, "inferno", false, 99.0));
    }
    rows.push_back(side_by_side(row));
  }
  // Stack the rows: one picture, rows = noise levels, columns = 5, 20, 50 samples.
  RgbImage grid{rows.front().width, 0, {}};
  for (const RgbImage& row : rows) {
    grid.pixels.insert(grid.pixels.end(), row.pixels.begin(), row.pixels.end());
    grid.height += row.height;
  }
  examples::save(s, "03_smoothgrad_grid.png", grid);
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "03_smoothgrad: %s\n", e.what());
  return 2;
}
