// `saliency eval IMAGES|FOLDER|LIST.txt... [--shapes N] --methods ... --metrics ...`: scores
// saliency methods with the map metrics over many images, one image at a time (memory stays
// flat): per-image rows streamed to JSON / CSV, a per-method summary table, curve plots.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <unistd.h>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "datasets/shapes.h"
#include "saliency/boxes.h"
#include "saliency/deletion.h"
#include "saliency/demo_model.h"
#include "saliency/plot.h"
#include "saliency/predict.h"
#include "saliency/sanity.h"
#include "saliency/sensitivity.h"
#include "saliency/visualize.h"
#include "tools/commands.h"

namespace saliency::cli {
namespace {

namespace fs = std::filesystem;

struct EvalOptions {
  std::vector<std::string> inputs;
  int64_t shapes = 0;
  std::string weights, model;
  std::string methods = "vanilla,grad-x-input,integrated-gradients,gradcam,guided-backprop,lrp";
  std::string metrics = "deletion,insertion,pointing", boxes, target = "auto";
  std::string out, csv, plot, substrate = "rise", fractions, device = "cpu";
  int64_t steps = 50, batch_size = 16, ig_steps = 50, samples = 50, sensitivity_samples = 50;
  int64_t limit = 0;
  double tolerance = -1;
  uint64_t seed = 0;
};

enum class Metric { Deletion, Insertion, Pointing, Sensitivity, Sanity };

const std::map<std::string, Metric> kMetricNames{{"deletion", Metric::Deletion},
                                                 {"insertion", Metric::Insertion},
                                                 {"pointing", Metric::Pointing},
                                                 {"sensitivity-n", Metric::Sensitivity},
                                                 {"sanity", Metric::Sanity}};

std::set<Metric> parse_metrics(const std::string& list) {
  std::set<Metric> metrics;
  std::stringstream stream(list);
  for (std::string name; std::getline(stream, name, ',');) {
    if (name.empty()) continue;
    const auto it = kMetricNames.find(name);
    SALIENCY_CHECK(it != kMetricNames.end(), "unknown metric '", name,
                   "' (known: deletion, insertion, pointing, sensitivity-n, sanity)");
    metrics.insert(it->second);
  }
  SALIENCY_CHECK(!metrics.empty(), "--metrics: no metric named");
  return metrics;
}

std::vector<double> parse_fractions(const std::string& text) {
  if (text.empty()) return SensitivityOptions{}.fractions;
  std::vector<double> fractions;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');) {
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(part, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    SALIENCY_CHECK(used == part.size() && value > 0 && value <= 1, "--sensitivity-fractions: '",
                   part, "' is not a fraction in (0, 1]");
    fractions.push_back(value);
  }
  return fractions;
}

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp" || ext == ".gif";
}

// Files, folders (their images, sorted) and .txt lists (one path a line, relative to the list).
std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> paths;
  for (const std::string& input : inputs) {
    if (fs::is_directory(input)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(input))
        if (entry.is_regular_file() && is_image_file(entry.path()))
          found.push_back(entry.path().string());
      std::sort(found.begin(), found.end());
      paths.insert(paths.end(), found.begin(), found.end());
    } else if (input.ends_with(".txt")) {
      std::ifstream list(input);
      SALIENCY_CHECK(list.good(), input, ": cannot open the image list");
      for (std::string line; std::getline(list, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        if (line.empty() || line.front() == '#') continue;
        const fs::path path(line);
        paths.push_back(path.is_absolute() || fs::exists(path)
                            ? line
                            : (fs::path(input).parent_path() / path).string());
      }
    } else {
      SALIENCY_CHECK(fs::is_regular_file(input), input, ": no such image, folder or list");
      paths.push_back(input);
    }
  }
  return paths;
}

// One image to evaluate: the model input and its ground truth in input pixels.
struct Item {
  std::string name;
  Tensor input;
  int64_t label = -1;             // ground-truth class when known
  std::vector<LabeledBox> boxes;  // in the model input's pixels
};

// Running means per method, for the summary and the plots (fixed size: flat memory).
struct Accumulator {
  int64_t images = 0, pointing_trials = 0, pointing_hits = 0;
  double seconds = 0, deletion = 0, insertion = 0;
  std::vector<double> deletion_curve, insertion_curve;
  std::vector<double> sensitivity_sum, sanity_sum, sanity_signed_sum;
  std::vector<int64_t> sensitivity_count, sanity_count;
  std::vector<int64_t> sensitivity_sizes;
};

// Mean of the finite values added so far (NaN: a constant map has no rank correlation).
nlohmann::json mean_or_null(double sum, int64_t count) {
  return count ? nlohmann::json(sum / double(count)) : nlohmann::json(nullptr);
}

void add_into(std::vector<double>& sum, const std::vector<double>& values) {
  if (sum.empty()) sum.assign(values.size(), 0.0);
  for (size_t i = 0; i < std::min(sum.size(), values.size()); ++i) sum[i] += values[i];
}

std::vector<double> averaged(const std::vector<double>& sum, double count) {
  std::vector<double> out(sum);
  for (double& v : out) v /= count;
  return out;
}

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

PlotSpec plot_spec(const std::string& title, const std::string& x_label,
                   const std::string& y_label) {
  PlotSpec spec;
  spec.title = title;
  spec.x_label = x_label;
  spec.y_label = y_label;
  return spec;
}

std::string format_duration(double seconds) {
  char text[32];
  const auto s = int64_t(seconds);
  if (s >= 3600)
    std::snprintf(text, sizeof(text), "%lldh%02lldm", (long long)(s / 3600),
                  (long long)(s / 60 % 60));
  else
    std::snprintf(text, sizeof(text), "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
  return text;
}

class Evaluation {
 public:
  Evaluation(const EvalOptions& o, const LoadedModel& model, std::vector<Method> methods,
             Device device)
      : o_(o), model_(model), methods_(std::move(methods)), metrics_(parse_metrics(o.metrics)) {
    classifier_ = classifier_on(*model_.network, device);
    adapt_options(options_, model_);
    options_.device = device;
    options_.batch_size = o.batch_size;
    options_.integrated_gradients.steps = o.ig_steps;
    options_.smoothgrad.samples = o.samples;
    curve_.steps = o.steps;
    curve_.batch_size = o.batch_size;
    sensitivity_.fractions = parse_fractions(o.fractions);
    sensitivity_.samples = o.sensitivity_samples;
    sensitivity_.seed = o.seed;
    sensitivity_.batch_size = o.batch_size;
    const int64_t size = model_.info.preprocessing().crop;
    tolerance_ = o.tolerance >= 0 ? o.tolerance : 15.0 * double(size) / 224.0;
    accumulators_.resize(methods_.size());
  }

  bool wants(Metric m) const { return metrics_.count(m) > 0; }
  double tolerance() const { return tolerance_; }

  // Evaluates every method on one image; returns its rows.
  std::vector<nlohmann::json> evaluate(const Item& item) {
    const int64_t target = choose_target(item);
    const int64_t height = item.input.size(2), width = item.input.size(3);
    std::vector<Box> boxes;
    for (const LabeledBox& b : item.boxes)
      if (box_matches(b, target, model_.info.labels) && b.box.x0 < b.box.x1 && b.box.y0 < b.box.y1)
        boxes.push_back(b.box);
    std::vector<nlohmann::json> rows;
    for (size_t m = 0; m < methods_.size(); ++m) {
      const Method method = methods_[m];
      Accumulator& acc = accumulators_[m];
      nlohmann::json row{{"image", item.name}, {"method", method_name(method)}, {"target", target}};
      const auto start = std::chrono::steady_clock::now();
      const Explanation e = explain(classifier_, item.input, method, target, options_);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      row["seconds"] = seconds;
      acc.seconds += seconds;
      ++acc.images;
      const std::vector<float> map = reduce_to_map(e.attribution, default_reduction(method), height,
                                                   width, options_.upsampling);
      if (wants(Metric::Deletion)) add_curve(true, item, map, target, acc, row);
      if (wants(Metric::Insertion)) add_curve(false, item, map, target, acc, row);
      if (wants(Metric::Pointing)) {
        if (boxes.empty()) {
          row["pointing"] = nullptr;
        } else {
          const bool hit = pointing_game_hit(map, height, width, boxes, tolerance_);
          row["pointing"] = hit;
          ++acc.pointing_trials;
          acc.pointing_hits += hit ? 1 : 0;
        }
      }
      if (wants(Metric::Sensitivity)) add_sensitivity(e, item, target, acc, row);
      if (wants(Metric::Sanity)) add_sanity(method, item, target, acc, row);
      rows.push_back(std::move(row));
    }
    return rows;
  }

  nlohmann::json summary() const {
    nlohmann::json out = nlohmann::json::array();
    for (size_t m = 0; m < methods_.size(); ++m) {
      const Accumulator& a = accumulators_[m];
      if (a.images == 0) continue;
      const double n = double(a.images);
      nlohmann::json s{{"method", method_name(methods_[m])},
                       {"images", a.images},
                       {"seconds_per_image", a.seconds / n}};
      if (wants(Metric::Deletion)) {
        s["deletion_auc"] = a.deletion / n;
        s["deletion_curve"] = averaged(a.deletion_curve, n);
      }
      if (wants(Metric::Insertion)) {
        s["insertion_auc"] = a.insertion / n;
        s["insertion_curve"] = averaged(a.insertion_curve, n);
      }
      if (wants(Metric::Pointing)) {
        s["pointing_trials"] = a.pointing_trials;
        s["pointing_accuracy"] =
            a.pointing_trials ? nlohmann::json(double(a.pointing_hits) / double(a.pointing_trials))
                              : nlohmann::json(nullptr);
      }
      if (wants(Metric::Sensitivity)) {
        nlohmann::json per_n = nlohmann::json::array();
        for (size_t i = 0; i < a.sensitivity_sizes.size(); ++i)
          per_n.push_back({{"n", a.sensitivity_sizes[i]},
                           {"correlation", a.sensitivity_count[i]
                                               ? number_or_null(a.sensitivity_sum[i] /
                                                                double(a.sensitivity_count[i]))
                                               : nlohmann::json(nullptr)}});
        s["sensitivity_n"] = per_n;
      }
      if (wants(Metric::Sanity) && !a.sanity_count.empty()) {
        nlohmann::json cascade = nlohmann::json::array();
        const std::vector<std::string> layers = model_.network->randomization_cascade();
        for (size_t i = 0; i < layers.size(); ++i)
          cascade.push_back({{"layer", layers[i]},
                             {"spearman_abs", mean_or_null(a.sanity_sum[i], a.sanity_count[i])},
                             {"spearman", mean_or_null(a.sanity_signed_sum[i], a.sanity_count[i])},
                             {"maps", a.sanity_count[i]}});
        s["sanity"] = cascade;
      }
      out.push_back(s);
    }
    return out;
  }

  void print_table(const nlohmann::json& summary) const {
    std::printf("\n%-22s %7s %9s %9s %9s %9s %9s %9s\n", "method", "images", "s/image",
                wants(Metric::Deletion) ? "deletion" : "",
                wants(Metric::Insertion) ? "insertion" : "",
                wants(Metric::Pointing) ? "pointing" : "",
                wants(Metric::Sensitivity) ? "sens-n" : "", wants(Metric::Sanity) ? "sanity" : "");
    for (const auto& s : summary) {
      auto cell = [&](const char* key) -> std::string {
        if (!s.contains(key) || s[key].is_null()) return s.contains(key) ? "n/a" : "";
        char text[32];
        std::snprintf(text, sizeof(text), "%.4f", s[key].get<double>());
        return text;
      };
      std::string sensitivity, sanity;
      if (s.contains("sensitivity_n")) {
        double total = 0;
        int count = 0;
        for (const auto& e : s["sensitivity_n"])
          if (!e["correlation"].is_null()) total += e["correlation"].get<double>(), ++count;
        char text[32];
        std::snprintf(text, sizeof(text), "%.4f", count ? total / count : NAN);
        sensitivity = text;
      }
      if (s.contains("sanity")) {
        const auto& last = s["sanity"].back()["spearman_abs"];
        char text[32];
        std::snprintf(text, sizeof(text), "%.4f", last.is_null() ? NAN : last.get<double>());
        sanity = text;
      }
      std::printf("%-22s %7lld %9.3f %9s %9s %9s %9s %9s\n", s["method"].get<std::string>().c_str(),
                  (long long)s["images"].get<int64_t>(), s["seconds_per_image"].get<double>(),
                  cell("deletion_auc").c_str(), cell("insertion_auc").c_str(),
                  cell("pointing_accuracy").c_str(), sensitivity.c_str(), sanity.c_str());
    }
    std::printf(
        "deletion: area under the target probability as salient pixels are removed (lower is "
        "better);\ninsertion: as they are inserted (higher is better); pointing: hits / images "
        "with "
        "a box of the target (tolerance %.1f px);\nsens-n: mean Pearson r over n (higher is "
        "better); sanity: Spearman |map| after randomizing every stage (lower is better).\n",
        tolerance_);
  }

  void write_plots(const std::string& folder, const nlohmann::json& summary) const {
    fs::create_directories(folder);
    auto curve_plot = [&](const char* key, const char* title, const std::string& file) {
      PlotSpec spec = plot_spec(title, "fraction of pixels", "p(target)");
      spec.y_low = 0;
      spec.y_high = 1;
      for (const auto& s : summary) {
        const std::vector<double> y = s[key];
        PlotSeries series{s["method"], {}, y};
        for (size_t i = 0; i < y.size(); ++i)
          series.x.push_back(y.size() > 1 ? double(i) / double(y.size() - 1) : 0.0);
        spec.series.push_back(series);
      }
      write_png((fs::path(folder) / file).string(), line_plot(spec));
    };
    if (wants(Metric::Deletion)) curve_plot("deletion_curve", "Deletion", "deletion.png");
    if (wants(Metric::Insertion)) curve_plot("insertion_curve", "Insertion", "insertion.png");
    if (wants(Metric::Sensitivity)) {
      PlotSpec spec = plot_spec("Sensitivity-n", "n (pixels removed)", "Pearson r");
      spec.log_x = true;
      spec.y_low = -1;
      spec.y_high = 1;
      for (const auto& s : summary) {
        PlotSeries series{s["method"], {}, {}};
        for (const auto& e : s["sensitivity_n"]) {
          series.x.push_back(e["n"].get<double>());
          series.y.push_back(e["correlation"].is_null() ? NAN : e["correlation"].get<double>());
        }
        spec.series.push_back(series);
      }
      write_png((fs::path(folder) / "sensitivity-n.png").string(), line_plot(spec));
    }
    if (wants(Metric::Sanity)) {
      PlotSpec spec = plot_spec("Cascading randomization", "randomized down to", "Spearman |map|");
      spec.y_low = 0;
      spec.y_high = 1;
      spec.x_tick_labels = model_.network->randomization_cascade();
      for (const auto& s : summary) {
        if (!s.contains("sanity")) continue;
        PlotSeries series{s["method"], {}, {}};
        for (size_t i = 0; i < s["sanity"].size(); ++i) {
          series.x.push_back(double(i));
          const auto& value = s["sanity"][i]["spearman_abs"];
          series.y.push_back(value.is_null() ? NAN : value.get<double>());
        }
        spec.series.push_back(series);
      }
      write_png((fs::path(folder) / "sanity.png").string(), line_plot(spec));
    }
  }

 private:
  int64_t choose_target(const Item& item) const {
    if (o_.target == "top" || (o_.target == "auto" && item.label < 0))
      return top_class(classifier_, item.input);
    if (o_.target == "auto") return item.label;
    SALIENCY_CHECK(
        o_.target.find_first_not_of("0123456789") == std::string::npos && o_.target.size() < 10,
        "--target must be auto, top or a class index, got '", o_.target, "'");
    return std::stoll(o_.target);
  }

  // Deletion or insertion; --substrate rise means zeros for deletion, blur for insertion.
  void add_curve(bool deletion, const Item& item, const std::vector<float>& map, int64_t target,
                 Accumulator& acc, nlohmann::json& row) {
    CurveOptions options = curve_;
    options.substrate = o_.substrate == "rise" ? (deletion ? Substrate::Zeros : Substrate::Blur)
                                               : parse_substrate(o_.substrate);
    const Curve c = deletion ? deletion_curve(classifier_, item.input, map, target, options)
                             : insertion_curve(classifier_, item.input, map, target, options);
    row[deletion ? "deletion_auc" : "insertion_auc"] = c.area;
    (deletion ? acc.deletion : acc.insertion) += c.area;
    add_into(deletion ? acc.deletion_curve : acc.insertion_curve, c.scores);
  }

  void add_sensitivity(const Explanation& e, const Item& item, int64_t target, Accumulator& acc,
                       nlohmann::json& row) {
    const std::vector<float> attribution =
        reduce_to_map(e.attribution, ChannelReduction::Sum, item.input.size(2), item.input.size(3),
                      options_.upsampling);
    const SensitivityResult r =
        sensitivity_n(classifier_, item.input, attribution, target, sensitivity_);
    if (acc.sensitivity_sizes.empty()) {
      acc.sensitivity_sizes = r.sizes;
      acc.sensitivity_sum.assign(r.sizes.size(), 0.0);
      acc.sensitivity_count.assign(r.sizes.size(), 0);
    }
    nlohmann::json per_n = nlohmann::json::array();
    for (size_t i = 0; i < r.sizes.size(); ++i) {
      per_n.push_back({{"n", r.sizes[i]}, {"correlation", number_or_null(r.correlations[i])}});
      if (std::isfinite(r.correlations[i]) && i < acc.sensitivity_sum.size()) {
        acc.sensitivity_sum[i] += r.correlations[i];
        ++acc.sensitivity_count[i];
      }
    }
    row["sensitivity_n"] = per_n;
  }

  void add_sanity(Method method, const Item& item, int64_t target, Accumulator& acc,
                  nlohmann::json& row) {
    const MapFunction map_of = [&](const Classifier& model) {
      const Explanation e = explain(model, item.input, method, target, options_);
      return reduce_to_map(e.attribution, default_reduction(method), item.input.size(2),
                           item.input.size(3), options_.upsampling);
    };
    const auto steps = cascading_randomization(
        *model_.network, classifier_, model_.network->randomization_cascade(), map_of, o_.seed);
    if (acc.sanity_count.empty()) {
      acc.sanity_sum.assign(steps.size(), 0.0);
      acc.sanity_signed_sum.assign(steps.size(), 0.0);
      acc.sanity_count.assign(steps.size(), 0);
    }
    nlohmann::json cascade = nlohmann::json::array();
    for (size_t i = 0; i < steps.size(); ++i) {
      const RandomizationStep& s = steps[i];
      cascade.push_back({{"layer", s.layer},
                         {"spearman_abs", number_or_null(s.spearman_abs)},
                         {"spearman", number_or_null(s.spearman)}});
      if (std::isfinite(s.spearman_abs) && std::isfinite(s.spearman)) {
        acc.sanity_sum[i] += s.spearman_abs;
        acc.sanity_signed_sum[i] += s.spearman;
        ++acc.sanity_count[i];
      }
    }
    row["sanity"] = cascade;
  }

  const EvalOptions& o_;
  const LoadedModel& model_;
  std::vector<Method> methods_;
  std::set<Metric> metrics_;
  Classifier classifier_;
  MethodOptions options_;
  CurveOptions curve_;
  SensitivityOptions sensitivity_;
  double tolerance_ = 15;
  std::vector<Accumulator> accumulators_;
};

// The image sources in order: held-out shapes (with their boxes), then files.
class Items {
 public:
  Items(const EvalOptions& o, const LoadedModel& model) : o_(o), model_(model) {
    paths_ = expand_inputs(o.inputs);
    if (!o.boxes.empty()) boxes_ = BoxIndex::read(o.boxes);
    total_ = o.shapes + int64_t(paths_.size());
    if (o.limit > 0) total_ = std::min(total_, o.limit);
  }
  int64_t total() const { return total_; }

  Item get(int64_t index) const {
    if (index < o_.shapes) {
      const datasets::ShapeSample sample = datasets::make_shape_sample(
          datasets::kShapesTestSeed, uint64_t(index), model_.info.input_size);
      Item item{"shapes:" + std::to_string(index),
                preprocess(sample.image, model_.info.preprocessing()),
                sample.label,
                {}};
      LabeledBox box;
      box.box = sample.box;
      box.label = sample.label;
      item.boxes.push_back(box);
      return item;
    }
    const std::string& path = paths_[size_t(index - o_.shapes)];
    const Preprocessing preprocessing = model_.info.preprocessing();
    const RgbImage image = load_image(path, preprocessing.limits);
    Item item{path, preprocess(image, preprocessing), -1, {}};
    for (LabeledBox box : boxes_.find(path)) {
      box.box = box_in_model_input(box.box, image.width, image.height, preprocessing);
      item.boxes.push_back(box);
    }
    // One class among the image's boxes is its ground truth ("--target auto").
    std::set<int64_t> classes;
    for (const LabeledBox& b : item.boxes)
      if (b.label >= 0) classes.insert(b.label);
    if (classes.size() == 1) item.label = *classes.begin();
    return item;
  }

 private:
  const EvalOptions& o_;
  const LoadedModel& model_;
  std::vector<std::string> paths_;
  BoxIndex boxes_;
  int64_t total_ = 0;
};

// Opens `path` for writing, creating its folder.
void open_output(std::ofstream& out, const std::string& path, const char* what) {
  const fs::path parent = fs::path(path).parent_path();
  std::error_code error;
  if (!parent.empty()) fs::create_directories(parent, error);
  out.open(path);
  SALIENCY_CHECK(out.good(), path, ": cannot write the ", what);
}

class JsonRowWriter {
 public:
  explicit JsonRowWriter(const std::string& path) : path_(path) {
    if (path.empty()) return;
    open_output(out_, path, "results file");
    out_ << "{\"rows\": [";
  }
  void add(const nlohmann::json& row) {
    if (!out_.is_open()) return;
    out_ << (first_ ? "\n" : ",\n") << row.dump();
    first_ = false;
  }
  void finish(const nlohmann::json& tail) {
    if (!out_.is_open()) return;
    out_ << "\n]";
    for (auto& [key, value] : tail.items()) out_ << ",\n\"" << key << "\": " << value.dump();
    out_ << "\n}\n";
    SALIENCY_CHECK(out_.good(), path_, ": could not write the results");
  }

 private:
  std::string path_;
  std::ofstream out_;
  bool first_ = true;
};

class CsvRowWriter {
 public:
  explicit CsvRowWriter(const std::string& path) : path_(path) {
    if (path.empty()) return;
    open_output(out_, path, "CSV file");
    out_ << "image,method,target,seconds,deletion_auc,insertion_auc,pointing,"
            "sensitivity_mean,sanity_last_abs\n";
  }
  void add(const nlohmann::json& row) {
    if (!out_.is_open()) return;
    auto number = [&](const char* key) -> std::string {
      if (!row.contains(key) || row[key].is_null()) return "";
      std::ostringstream text;
      text.precision(8);
      text << row[key].get<double>();
      return text.str();
    };
    std::string pointing;
    if (row.contains("pointing") && !row["pointing"].is_null())
      pointing = row["pointing"].get<bool>() ? "1" : "0";
    std::string sensitivity, sanity;
    if (row.contains("sensitivity_n")) {
      double total = 0;
      int count = 0;
      for (const auto& e : row["sensitivity_n"])
        if (!e["correlation"].is_null()) total += e["correlation"].get<double>(), ++count;
      if (count) sensitivity = std::to_string(total / count);
    }
    if (row.contains("sanity") && !row["sanity"].back()["spearman_abs"].is_null())
      sanity = std::to_string(row["sanity"].back()["spearman_abs"].get<double>());
    std::string image = row["image"];
    if (image.find_first_of(",\"") != std::string::npos) {
      std::string quoted = "\"";
      for (char c : image) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
      image = quoted + "\"";
    }
    out_ << image << "," << row["method"].get<std::string>() << "," << row["target"].get<int64_t>()
         << "," << number("seconds") << "," << number("deletion_auc") << ","
         << number("insertion_auc") << "," << pointing << "," << sensitivity << "," << sanity
         << "\n";
  }
  void finish() {
    if (out_.is_open()) SALIENCY_CHECK(out_.good(), path_, ": could not write the CSV rows");
  }

 private:
  std::string path_;
  std::ofstream out_;
};

LoadedModel load_eval_model(const EvalOptions& o) {
  if (!o.weights.empty()) return load_model(o.weights, o.model);
  if (o.shapes > 0) return load_shapes_model();
  return load_model(default_weights_path(), o.model);
}

int run_eval(const EvalOptions& o) {
  SALIENCY_CHECK(o.shapes > 0 || !o.inputs.empty(),
                 "eval: name images, folders or lists, or --shapes N for held-out shapes images");
  parse_metrics(o.metrics);  // bad names are bad usage before any model loads
  const Device device = parse_device(o.device);
  const LoadedModel model = load_eval_model(o);
  const std::vector<Method> methods = parse_methods(o.methods, supported_methods(*model.network));
  canonize_for(model, methods);
  move_to(model, device);
  Evaluation evaluation(o, model, methods, device);
  const Items items(o, model);
  SALIENCY_CHECK(items.total() > 0, "eval: no images found in the inputs");
  JsonRowWriter json(o.out);
  CsvRowWriter csv(o.csv);
  const bool show_progress = isatty(STDERR_FILENO) != 0;
  const auto start = std::chrono::steady_clock::now();
  int64_t evaluated = 0, skipped = 0;
  for (int64_t i = 0; i < items.total(); ++i) {
    Item item;
    try {
      item = items.get(i);
    } catch (const InvalidArgument& e) {  // one unreadable file does not end a long run
      std::fprintf(stderr, "%sskipped: %s\n", show_progress ? "\r\033[K" : "", e.what());
      ++skipped;
      continue;
    }
    for (const nlohmann::json& row : evaluation.evaluate(item)) {
      json.add(row);
      csv.add(row);
    }
    ++evaluated;
    if (show_progress) {
      const double elapsed =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const int64_t done = i + 1;
      const int width = 30, filled = int(width * done / items.total());
      std::fprintf(stderr, "\r[%s%s] %lld/%lld  %s elapsed, eta %s  %s\033[K",
                   std::string(size_t(filled), '#').c_str(),
                   std::string(size_t(width - filled), '.').c_str(), (long long)done,
                   (long long)items.total(), format_duration(elapsed).c_str(),
                   format_duration(elapsed / double(done) * double(items.total() - done)).c_str(),
                   fs::path(item.name).filename().string().c_str());
    }
  }
  if (show_progress) std::fprintf(stderr, "\r\033[K");
  SALIENCY_CHECK(evaluated > 0, "eval: none of the ", items.total(), " images could be read");
  const nlohmann::json summary = evaluation.summary();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json.finish({{"summary", summary},
               {"model", model.info.source},
               {"images", evaluated},
               {"skipped", skipped},
               {"seconds", seconds},
               {"options",
                {{"metrics", o.metrics},
                 {"steps", o.steps},
                 {"substrate", o.substrate},
                 {"pointing_tolerance", evaluation.tolerance()},
                 {"sensitivity_samples", o.sensitivity_samples},
                 {"seed", o.seed}}}});
  csv.finish();
  std::printf("evaluated %lld images (%lld skipped) with %zu methods in %s on %s\n",
              (long long)evaluated, (long long)skipped, methods.size(),
              format_duration(seconds).c_str(), model.info.source.c_str());
  evaluation.print_table(summary);
  if (!o.plot.empty()) {
    evaluation.write_plots(o.plot, summary);
    std::printf("plots -> %s\n", o.plot.c_str());
  }
  if (!o.out.empty()) std::printf("results -> %s\n", o.out.c_str());
  if (!o.csv.empty()) std::printf("rows -> %s\n", o.csv.c_str());
  return 0;
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  auto* c = app.add_subcommand(
      "eval",
      "Score saliency methods with deletion / insertion, the pointing game, sensitivity-n and "
      "the model randomization test over many images");
  c->add_option("inputs", o->inputs, "Image files, folders of images, or .txt lists of paths");
  c->add_option("--shapes", o->shapes,
                "Also evaluate this many held-out shapes images (with their true boxes); "
                "without --weights this uses the embedded shapes model")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--weights", o->weights,
                "Weights (.safetensors or .pth; default: the embedded shapes model with --shapes, "
                "else $SALIENCY_WEIGHTS or weights/resnet50.safetensors)");
  c->add_option("--model", o->model, "Check the weights are this model (e.g. resnet50)");
  c->add_option("--methods", o->methods, "Comma-separated methods (as explain) or 'all'")
      ->capture_default_str();
  c->add_option("--metrics", o->metrics,
                "Comma-separated: deletion, insertion, pointing, sensitivity-n, sanity")
      ->capture_default_str();
  c->add_option("--boxes", o->boxes,
                "Ground-truth boxes for the pointing game: JSON {image: [{box: [x0,y0,x1,y1], "
                "class}]} or CSV image,class,x0,y0,x1,y1 (original image pixels)");
  c->add_option("--target", o->target,
                "auto (the true class when known, else the top class), top, or a class index")
      ->capture_default_str();
  c->add_option("--steps", o->steps, "Deletion / insertion steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--substrate", o->substrate,
                "What removed pixels become: rise (zeros for deletion, blur for insertion), "
                "zeros or blur")
      ->check(CLI::IsMember({"rise", "zeros", "blur"}))
      ->capture_default_str();
  c->add_option("--tolerance", o->tolerance,
                "Pointing game tolerance in input pixels (default: 15 px scaled from 224 to the "
                "model's input size)");
  c->add_option("--sensitivity-samples", o->sensitivity_samples,
                "Random subsets per size for sensitivity-n")
      ->check(CLI::Range(int64_t(2), int64_t(100000)))
      ->capture_default_str();
  c->add_option("--sensitivity-fractions", o->fractions,
                "Subset sizes as fractions of the pixels (default 0.01,0.05,0.1,0.2,0.3,0.5,0.8)");
  c->add_option("--ig-steps", o->ig_steps, "Integrated Gradients steps")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--samples", o->samples, "SmoothGrad samples")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--batch-size", o->batch_size, "Images per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  c->add_option("--seed", o->seed, "Seed of the sensitivity-n subsets and the randomization")
      ->capture_default_str();
  c->add_option("--device", o->device,
                "cpu or cuda: where the network runs (every method runs on either)")
      ->capture_default_str();
  c->add_option("--limit", o->limit, "Evaluate at most this many images")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--out", o->out, "Write per-image rows and the summary as JSON");
  c->add_option("--csv", o->csv, "Write per-image rows as CSV");
  c->add_option("--plot", o->plot, "Folder for curve plots (PNG)");
  return [o] { return run_eval(*o); };
}

}  // namespace saliency::cli
