// Example 04: Integrated Gradients (Sundararajan et al. 2017), baselines and completeness.
//
//   IG(x)[i] = (x[i] - x'[i]) * integral over a in [0, 1] of d y_t / d x[i] at x' + a (x - x')
//
// Completeness: sum_i IG(x)[i] = y_t(x) - y_t(x'). With a finite rule (Gauss-Legendre here,
// Captum's default) the gap delta shrinks as the steps grow; the program prints it. The
// baseline x' says what "absent" means and changes the map: zero (the mean colour), black,
// a blurred copy, uniform noise.
//
// Run: 04_integrated_gradients [IMAGE [WEIGHTS]] [--out DIR]
#include <cmath>
#include <cstdio>

#include "autograd/ops.h"
#include "core/error.h"
#include "examples/common/example.h"
#include "saliency/baselines.h"
#include "saliency/visualize.h"

using namespace saliency;

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "04_integrated_gradients");
  const int64_t target = top_class(s.classifier, s.input);
  const int64_t height = s.input.size(2), width = s.input.size(3);
  const Normalization& normalization = s.model.info.preprocessing().normalization;

  std::printf("completeness gap with the zero baseline:\n");
  for (int64_t steps : {4, 16, 64, 256}) {
    MethodOptions options;
    options.integrated_gradients.steps = steps;
    options.batch_size = 64;
    const Explanation e =
        explain(s.classifier, s.input, Method::IntegratedGradients, target, options);
    std::printf("  %3lld steps: delta %+.5f\n", static_cast<long long>(steps), e.delta);
  }

  std::vector<RgbImage> panels{s.picture};
  for (const char* baseline : {"zero", "black", "blur", "uniform"}) {
    MethodOptions options;
    options.integrated_gradients.steps = 64;
    options.integrated_gradients.baseline = make_baseline(baseline, s.input, 0, normalization);
    options.batch_size = 64;
    const Explanation e =
        explain(s.classifier, s.input, Method::IntegratedGradients, target, options);
    const double total = sum(e.attribution).item();  // delta = total - (y(x) - y(x'))
    std::printf("baseline %-8s sum(IG) %+.4f = y(x) - y(x') %+.4f + delta %+.5f\n", baseline, total,
                total - e.delta, e.delta);
    const auto map = reduce_to_map(e.attribution, ChannelReduction::Sum, height, width);
    panels.push_back(overlay(s.picture, colorize(map, height, width, "coolwarm", true, 99.0)));
  }
  examples::save(s, "04_integrated_gradients.png", side_by_side(panels));
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "04_integrated_gradients: %s\n", e.what());
  return 2;
}
