// `saliency demo`: the project's main job on a model whose right answer is known. The embedded
// shapes model is explained with every method on one generated image per class; each method is
// then scored by the pointing game on held-out images against a random and a centre baseline;
// everything lands in an HTML page. With ResNet-50 weights present, the photos in data/images
// are explained too.
#include <CLI/CLI.hpp>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "datasets/shapes.h"
#include "kernels/cpu/parallel.h"
#include "saliency/demo_model.h"
#include "saliency/methods.h"
#include "saliency/metrics.h"
#include "saliency/visualize.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

namespace fs = std::filesystem;

struct DemoOptions {
  std::string out = "outputs/demo";
  std::string weights;  // empty: the embedded shapes model
  int64_t pointing_images = 500;
  double tolerance = 4.0;
  double mask_tolerance = 1.0;
  int64_t batch_size = 50;
  std::string photos = "data/images";
  std::string photo_weights;  // empty: $SALIENCY_WEIGHTS or weights/resnet50.safetensors if present
  std::string methods = "all";
  std::vector<Method> method_list;  // parsed from `methods`
};

constexpr int64_t kDisplayScale = 3;  // 64 px images shown at 192 px

struct MethodScore {
  std::string name;
  int64_t hits = 0, mask_hits = 0, images = 0;
  double seconds = 0;
  double accuracy() const { return images ? double(hits) / double(images) : 0.0; }
  double mask_accuracy() const { return images ? double(mask_hits) / double(images) : 0.0; }
  void score(const std::vector<float>& map, int64_t size, const datasets::ShapeSample& sample,
             const DemoOptions& o) {
    hits += pointing_game_hit(map, size, size, {sample.box}, o.tolerance);
    mask_hits += pointing_game_hit_mask(map, size, size, sample.mask, o.mask_tolerance);
    ++images;
  }
  void add(const MethodScore& other) {
    hits += other.hits, mask_hits += other.mask_hits, images += other.images;
    seconds += other.seconds;
  }
};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f%%", 100 * fraction);
  return text;
}

std::vector<float> method_map(const Explanation& explanation, int64_t size,
                              const MethodOptions& options) {
  return reduce_to_map(explanation.attribution, default_reduction(explanation.method), size, size,
                       options.upsampling);
}

// One picture per class: the input with its ground-truth box, then each method's overlay.
std::vector<std::string> explain_examples(const DemoOptions& o, const LoadedModel& model,
                                          const Classifier& classifier,
                                          const MethodOptions& options) {
  const auto& classes = datasets::shape_class_names();
  const int64_t size = model.info.input_size;
  std::vector<std::string> files;
  std::vector<bool> shown(classes.size(), false);
  // Examples come from the far end of the test stream, away from the pointing-game images.
  for (uint64_t index = 1'000'000; files.size() < classes.size(); ++index) {
    const datasets::ShapeSample sample =
        datasets::make_shape_sample(datasets::kShapesTestSeed, index, size);
    if (shown[sample.label]) continue;
    shown[sample.label] = true;
    const Tensor input = to_tensor(sample.image);
    const int64_t predicted = top_class(classifier, input);
    RgbImage boxed = sample.image;
    draw_box(boxed, sample.box, {0, 255, 0});
    std::vector<RgbImage> panels{
        with_caption(upscale_nearest(boxed, kDisplayScale),
                     {"input: " + classes[sample.label],
                      "predicted: " + model.info.label(predicted), "box: ground truth"})};
    for (Method method : o.method_list) {
      const auto start = std::chrono::steady_clock::now();
      const Explanation explanation = explain(classifier, input, method, sample.label, options);
      const double seconds = seconds_since(start);
      const std::vector<float> map = method_map(explanation, size, options);
      const bool hit =
          pointing_game_hit(map, size, size, {sample.box}, o.tolerance);  // as in the table
      const RgbImage heat = colorize_for(method, map, size, size);
      char timing[32];
      std::snprintf(timing, sizeof(timing), "%.0f ms", 1000 * seconds);
      panels.push_back(
          with_caption(upscale_nearest(overlay(sample.image, heat), kDisplayScale),
                       {method_name(method), hit ? "pointing: hit" : "pointing: miss", timing}));
    }
    const std::string file = classes[sample.label] + ".png";
    write_png((fs::path(o.out) / file).string(), side_by_side(panels));
    files.push_back(file);
  }
  return files;
}

// One held-out image's scores: every method, then the random and centre baselines.
std::vector<MethodScore> score_image(const DemoOptions& o, int64_t size,
                                     const Classifier& classifier, const MethodOptions& options,
                                     int64_t index, bool& correct) {
  const datasets::ShapeSample sample =
      datasets::make_shape_sample(datasets::kShapesTestSeed, static_cast<uint64_t>(index), size);
  const Tensor input = to_tensor(sample.image);
  correct = top_class(classifier, input) == sample.label;
  std::vector<MethodScore> scores;
  for (Method method : o.method_list) {
    MethodScore score{method_name(method)};
    const auto start = std::chrono::steady_clock::now();
    const Explanation explanation = explain(classifier, input, method, sample.label, options);
    score.seconds = seconds_since(start);
    score.score(method_map(explanation, size, options), size, sample, o);
    scores.push_back(score);
  }
  scores.push_back({"baseline: random"});
  scores.back().score(random_map(size, size, static_cast<uint64_t>(index)), size, sample, o);
  scores.push_back({"baseline: centre"});
  scores.back().score(center_map(size, size), size, sample, o);
  return scores;
}

// Pointing game over held-out images. A 64x64 image leaves a kernel too little work to split
// across cores, so the images are split instead: each worker thread explains whole images with
// single-threaded kernels. Results are merged in image order, so they do not depend on the
// thread count.
std::vector<MethodScore> pointing_game(const DemoOptions& o, const LoadedModel& model,
                                       const Classifier& classifier, const MethodOptions& options,
                                       double& model_accuracy) {
  const int64_t images = o.pointing_images, size = model.info.input_size;
  std::vector<std::vector<MethodScore>> per_image(static_cast<size_t>(images));
  std::vector<char> correct(static_cast<size_t>(images), 0);
  std::atomic<int64_t> next{0}, done{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  const bool show_progress = isatty(STDERR_FILENO) != 0;
  auto work = [&] {
    kernels::cpu::set_num_threads(1);  // this thread's OpenMP setting only
    for (int64_t i = next++; i < images; i = next++) {
      try {
        bool hit = false;
        per_image[static_cast<size_t>(i)] = score_image(o, size, classifier, options, i, hit);
        correct[static_cast<size_t>(i)] = hit;
      } catch (...) {
        const std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = images;
      }
      const int64_t finished = ++done;
      if (show_progress)
        std::fprintf(stderr, "\rpointing game: image %lld/%lld\033[K",
                     static_cast<long long>(finished), static_cast<long long>(images));
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < kernels::cpu::num_threads(); ++w) workers.emplace_back(work);
  for (std::thread& worker : workers) worker.join();
  if (show_progress) std::fprintf(stderr, "\r\033[K");
  if (failure) std::rethrow_exception(failure);

  std::vector<MethodScore> scores = per_image.front();
  for (size_t i = 1; i < per_image.size(); ++i)
    for (size_t m = 0; m < scores.size(); ++m) scores[m].add(per_image[i][m]);
  model_accuracy = double(std::count(correct.begin(), correct.end(), 1)) / double(images);
  return scores;
}

// ResNet-50 on the photos, when its weights are here (they cannot ship with the repository).
std::vector<std::string> explain_photos(const DemoOptions& o) {
  if (!fs::is_directory(o.photos)) return {};
  std::string weights = o.photo_weights;
  if (weights.empty()) {
    try {
      weights = default_weights_path();
    } catch (const InvalidArgument&) {
      return {};
    }
  }
  const LoadedModel model = load_model(weights);
  prepare_for(model, o.method_list);
  const Classifier classifier = [&](const Tensor& x) { return model.network->forward(x); };
  std::vector<fs::path> photos;
  for (const auto& entry : fs::directory_iterator(o.photos))
    if (entry.path().extension() == ".jpg" || entry.path().extension() == ".png")
      photos.push_back(entry.path());
  std::sort(photos.begin(), photos.end());
  std::vector<std::string> files;
  for (const fs::path& photo : photos) {
    const Tensor input = load_model_input(photo.string(), model.info.preprocessing());
    const RgbImage picture = to_image(input);
    const int64_t predicted = top_class(classifier, input);
    std::vector<RgbImage> panels{
        with_caption(picture, {photo.stem().string(), model.info.label(predicted)})};
    for (Method method : o.method_list) {
      const auto start = std::chrono::steady_clock::now();
      const Explanation explanation = explain(classifier, input, method, predicted);
      char timing[32];
      std::snprintf(timing, sizeof(timing), "%.2f s", seconds_since(start));
      panels.push_back(
          with_caption(overlay(picture, render_heatmap(explanation, picture.height, picture.width)),
                       {method_name(method), timing}));
    }
    const std::string file = "photo_" + photo.stem().string() + ".png";
    write_png((fs::path(o.out) / file).string(), side_by_side(panels));
    files.push_back(file);
    std::printf("explained %s (%s) -> %s\n", photo.string().c_str(),
                model.info.label(predicted).c_str(), (fs::path(o.out) / file).string().c_str());
  }
  return files;
}

std::string html_escape(const std::string& text) {
  std::string escaped;
  for (char c : text) {
    if (c == '<')
      escaped += "&lt;";
    else if (c == '>')
      escaped += "&gt;";
    else if (c == '&')
      escaped += "&amp;";
    else if (c == '"')
      escaped += "&quot;";
    else
      escaped += c;
  }
  return escaped;
}

void write_page(const DemoOptions& o, const LoadedModel& model,
                const std::vector<std::string>& examples, const std::vector<MethodScore>& scores,
                double model_accuracy, const std::vector<std::string>& photos) {
  const fs::path path = fs::path(o.out) / "index.html";
  std::ofstream html(path);
  html << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
       << "<title>saliency demo</title>\n<style>body{font-family:sans-serif;margin:2em;}"
       << "table{border-collapse:collapse}td,th{padding:4px 10px;border-bottom:1px solid #ccc;"
       << "text-align:left}td.num{text-align:right}img{display:block;margin:1em 0;max-width:100%;"
       << "image-rendering:pixelated}</style></head>\n<body>\n<h1>saliency demo</h1>\n";
  html << "<p>Model: " << html_escape(model.info.source) << ", a small ResNet trained in this "
       << "engine on the synthetic <em>shapes</em> dataset (classes: ";
  for (size_t i = 0; i < model.info.labels.size(); ++i)
    html << (i ? ", " : "") << html_escape(model.info.labels[i]);
  html << "). Every map explains the ground-truth class.</p>\n";
  html << "<h2>Pointing game</h2>\n<p>" << o.pointing_images << " held-out images; a hit when "
       << "the map's maximum lies within " << o.tolerance << " px of the object's box (the "
       << "paper's 15 px at 224 px, scaled to " << model.info.input_size << " px). Model "
       << "accuracy on these images: " << percent(model_accuracy) << ". The stricter column "
       << "asks for the maximum within " << o.mask_tolerance << " px of the object's own "
       << "pixels (a ring's hole does not count).</p>\n"
       << "<table><tr><th>method</th><th>pointing accuracy (box)</th><th>on the object "
       << "(mask)</th><th>ms per image, one core</th></tr>\n";
  for (const MethodScore& s : scores) {
    html << "<tr><td>" << html_escape(s.name) << "</td><td class=\"num\">" << percent(s.accuracy())
         << "</td><td class=\"num\">" << percent(s.mask_accuracy()) << "</td><td class=\"num\">";
    if (s.seconds > 0) html << static_cast<int64_t>(1000 * s.seconds / double(s.images) + 0.5);
    html << "</td></tr>\n";
  }
  html << "</table>\n<h2>One image per class</h2>\n<p>Green: the ground-truth box.</p>\n";
  for (const std::string& file : examples)
    html << "<img src=\"" << html_escape(file) << "\" alt=\"" << html_escape(file) << "\">\n";
  if (!photos.empty()) {
    html << "<h2>Photos (ResNet-50, predicted class)</h2>\n";
    for (const std::string& file : photos)
      html << "<img src=\"" << html_escape(file) << "\" alt=\"" << html_escape(file) << "\">\n";
  }
  // Lets a headless browser (scripts/check-demo-page.sh) confirm every picture loaded.
  html << "<p id=\"status\"></p>\n<script>\nwindow.addEventListener('load', () => {\n"
       << "  const all = Array.from(document.images);\n"
       << "  const loaded = all.filter(i => i.complete && i.naturalWidth > 0).length;\n"
       << "  document.body.dataset.imagesLoaded = loaded + '/' + all.length;\n"
       << "  document.getElementById('status').textContent = loaded + ' of ' + all.length + "
       << "' images loaded';\n});\n</script>\n</body></html>\n";
  SALIENCY_CHECK(html.good(), path.string(), ": could not write the page");
}

int run_demo(DemoOptions o) {
  const auto start = std::chrono::steady_clock::now();
  const LoadedModel model = o.weights.empty() ? load_shapes_model() : load_model(o.weights);
  o.method_list = parse_methods(o.methods, supported_methods(*model.network));
  prepare_for(model, o.method_list);
  SALIENCY_CHECK(model.info.labels == datasets::shape_class_names() && model.info.input_size > 0,
                 model.info.source, ": not a shapes model (its metadata must name the classes ",
                 "and the input size); train one with `saliency train shapes`");
  std::error_code error;
  fs::create_directories(o.out, error);
  SALIENCY_CHECK(!error && fs::is_directory(o.out), o.out, ": cannot create the output folder (",
                 error.message(), ")");
  const Classifier classifier = [&](const Tensor& x) { return model.network->forward(x); };
  MethodOptions options;
  options.batch_size = o.batch_size;

  const std::vector<std::string> examples = explain_examples(o, model, classifier, options);
  std::printf("explained one image per class with %zu methods -> %s\n", o.method_list.size(),
              o.out.c_str());
  double model_accuracy = 0;
  const std::vector<MethodScore> scores =
      pointing_game(o, model, classifier, options, model_accuracy);
  std::printf(
      "pointing game on %lld held-out images (model accuracy %s; times per image on "
      "one core, %d images at a time):\n",
      static_cast<long long>(o.pointing_images), percent(model_accuracy).c_str(),
      kernels::cpu::num_threads());
  std::printf("  %-24s %8s %8s %8s\n", "method", "box", "mask", "ms/image");
  for (const MethodScore& s : scores)
    std::printf("  %-24s %8s %8s %8.0f\n", s.name.c_str(), percent(s.accuracy()).c_str(),
                percent(s.mask_accuracy()).c_str(), 1000 * s.seconds / double(s.images));
  const std::vector<std::string> photos = explain_photos(o);
  write_page(o, model, examples, scores, model_accuracy, photos);
  std::printf("wrote %s (%.0f s)\n", (fs::path(o.out) / "index.html").string().c_str(),
              seconds_since(start));
  return 0;
}

}  // namespace

Command add_demo_command(CLI::App& app) {
  auto o = std::make_shared<DemoOptions>();
  auto* c = app.add_subcommand(
      "demo",
      "Explain the embedded shapes model with every method, score the maps with the pointing "
      "game, and write an HTML page (plus ResNet-50 on the photos when its weights are here)");
  c->add_option("--out", o->out, "Output folder")->capture_default_str();
  c->add_option("--weights", o->weights,
                "A shapes model from `saliency train shapes` (default: the embedded one)");
  c->add_option("--pointing-images", o->pointing_images, "Held-out images for the pointing game")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  c->add_option("--tolerance", o->tolerance, "Pointing-game tolerance in pixels")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("--mask-tolerance", o->mask_tolerance,
                "Tolerance in pixels of the stricter score against the object's mask")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  c->add_option("--batch-size", o->batch_size, "Samples / steps per pass (SmoothGrad, IG)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  c->add_option("--methods", o->methods, "Comma-separated methods, or all")->capture_default_str();
  c->add_option("--photos", o->photos, "Photos for ResNet-50")->capture_default_str();
  c->add_option("--photo-weights", o->photo_weights,
                "ResNet-50 weights for the photos (default: $SALIENCY_WEIGHTS, else "
                "weights/resnet50.safetensors when present; skipped when absent)");
  return [o] { return run_demo(*o); };
}

}  // namespace saliency::cli
