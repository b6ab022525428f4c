// Example 08: every method side by side, judged by the model itself.
//
// Deletion (Petsiuk et al. 2018, RISE): remove pixels in the map's order, most salient first,
// and watch the class probability; a faithful map makes it fall fast (small area under the
// curve). Insertion: put pixels back into a blurred canvas in that order; a faithful map makes
// the probability rise fast (large area). On the shapes data the object's mask also gives a
// pointing game: is the map's maximum on the object? A random map is the floor every method
// must beat. Times are per explanation (median of three) on this machine.
//
// A method can look convincing and score badly (deconvnet), or look coarse and score well
// (Grad-CAM at 4 x 4 on the shapes model): the scores and the pictures answer different
// questions, and the scores themselves depend on the substrate (what "removed" means).
//
// Run: 08_comparison [IMAGE [WEIGHTS]] [--out DIR]
// Scores are averaged over 10 held-out shapes images by default, or computed on IMAGE.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "core/error.h"
#include "examples/common/example.h"
#include "saliency/deletion.h"
#include "saliency/metrics.h"
#include "saliency/visualize.h"

using namespace saliency;

namespace {

constexpr int kShapesImages = 10;

struct Scores {
  double milliseconds = 0, deletion = 0, insertion = 0;
  int hits = 0;
};

struct Item {
  Tensor input;
  int64_t target;
  std::vector<uint8_t> mask;  // the object's pixels (shapes only)
};

// The images the scores average over: held-out shapes samples with their labels and masks, or
// the given image and its top class.
std::vector<Item> scored_items(const examples::Setup& s) {
  if (!s.shape) return {{s.input, top_class(s.classifier, s.input), {}}};
  std::vector<Item> items;
  for (uint64_t i = 0; i < kShapesImages; ++i) {
    const datasets::ShapeSample sample = datasets::make_shape_sample(datasets::kShapesTestSeed, i);
    items.push_back(
        {preprocess(sample.image, s.model.info.preprocessing()), sample.label, sample.mask});
  }
  return items;
}

double median_milliseconds(const std::function<void()>& run) {
  std::vector<double> times;
  for (int repeat = 0; repeat < 3; ++repeat) {
    const auto start = std::chrono::steady_clock::now();
    run();
    times.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(times.begin(), times.end());
  return times[1];
}

// One map's deletion and insertion areas (RISE's substrates: zeros, then a blurred copy) and
// its pointing-game hit, added to `scores`.
void score_map(const examples::Setup& s, const Item& item, const std::vector<float>& map,
               Scores& scores) {
  CurveOptions options;
  options.substrate = Substrate::Zeros;
  scores.deletion += deletion_curve(s.classifier, item.input, map, item.target, options).area;
  options.substrate = Substrate::Blur;
  scores.insertion += insertion_curve(s.classifier, item.input, map, item.target, options).area;
  const int64_t height = item.input.size(2), width = item.input.size(3);
  if (!item.mask.empty()) scores.hits += pointing_game_hit_mask(map, height, width, item.mask, 1);
}

// The panel of one map, enlarged to at least 128 px, captioned with its name and scores.
RgbImage panel(const RgbImage& heat, const std::string& name, const Scores& scores, double count) {
  const int64_t factor = std::max<int64_t>(1, 128 / heat.height);
  char line[64];
  std::snprintf(line, sizeof line, "del %.2f ins %.2f", scores.deletion / count,
                scores.insertion / count);
  return with_caption(upscale_nearest(heat, factor), {name, line}, 1);
}

}  // namespace

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "08_comparison");
  const std::vector<Method> methods = supported_methods(*s.model.network);
  canonize_for(s.model, methods);  // LRP explains the network with BatchNorm folded
  MethodOptions options;
  adapt_options(options, s.model);
  const std::vector<Item> items = scored_items(s);
  const int64_t height = s.input.size(2), width = s.input.size(3);
  const double count = double(items.size());

  std::printf("%-22s %10s %10s %10s %10s\n", "method", "ms/image", "deletion", "insertion",
              s.shape ? "pointing" : "");
  // The first scored image, then its map by each method.
  const RgbImage picture =
      to_image(items.front().input, s.model.info.preprocessing().normalization);
  std::vector<RgbImage> panels = {
      with_caption(upscale_nearest(picture, std::max<int64_t>(1, 128 / picture.height)),
                   {s.model.info.label(items.front().target), ""}, 1)};
  auto report = [&](const std::string& name, const Scores& scores) {
    std::printf("%-22s %10.1f %10.3f %10.3f", name.c_str(), scores.milliseconds,
                scores.deletion / count, scores.insertion / count);
    if (s.shape) std::printf(" %9.0f%%", 100.0 * scores.hits / count);
    std::printf("\n");
  };
  for (Method method : methods) {
    Scores scores;
    // The timed runs explain the first image; the last of them is scored with the others.
    Explanation first;
    scores.milliseconds = median_milliseconds([&] {
      first = explain(s.classifier, items.front().input, method, items.front().target, options);
    });
    RgbImage first_heat;
    for (size_t i = 0; i < items.size(); ++i) {
      const Explanation e =
          i == 0 ? first : explain(s.classifier, items[i].input, method, items[i].target, options);
      const std::vector<float> map = reduce_to_map(e.attribution, default_reduction(method), height,
                                                   width, options.upsampling);
      score_map(s, items[i], map, scores);
      if (i == 0) first_heat = colorize_for(method, map, height, width);
    }
    report(method_name(method), scores);
    panels.push_back(panel(first_heat, method_name(method), scores, count));
  }
  Scores random;
  for (size_t i = 0; i < items.size(); ++i)
    score_map(s, items[i], random_map(height, width, i), random);
  report("(random map)", random);
  examples::save(s, "08_comparison.png", side_by_side(panels));
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "08_comparison: %s\n", e.what());
  return 2;
}
