// Deletion / insertion, sensitivity-n, the sanity check and the boxes file, against references
// from tests/reference/make_metric_fixtures.py (RISE's protocol in PyTorch, numpy, scipy) and
// against the properties the papers state.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "saliency/boxes.h"
#include "saliency/deletion.h"
#include "saliency/demo_model.h"
#include "saliency/plot.h"
#include "saliency/predict.h"
#include "saliency/sanity.h"
#include "saliency/sensitivity.h"
#include "saliency/visualize.h"
#include "weights/tensor_file.h"

namespace saliency {
namespace {

std::string fixture(const std::string& name) {
  return SALIENCY_FIXTURE_DIR "/metrics/" + name;
}

const nlohmann::json& info() {
  static const nlohmann::json json = nlohmann::json::parse(std::ifstream(fixture("metrics.json")));
  return json;
}

std::vector<float> read_map(const std::string& name) {
  const std::vector<double> values = weights::read_npy(fixture(name)).to_vector();
  return {values.begin(), values.end()};
}

struct TinyModel {
  std::unique_ptr<models::ResNet> model =
      load_resnet(SALIENCY_FIXTURE_DIR "/tiny_resnet18.safetensors");
  Classifier classifier = [this](const Tensor& x) { return model->forward(x); };
  Tensor image = [] {
    const Tensor batch = weights::read_npy(SALIENCY_FIXTURE_DIR "/resnet_input.npy");
    return reshape(batch.select_batch(0), {1, 3, 40, 36});
  }();
};

// Our float32 curves against the float64 reference: the probabilities of a float32 network
// differ by ~1e-6; 1e-5 absolute leaves room for that and nothing for a step off by one.
TEST(DeletionInsertion, MatchRisesProtocol) {
  TinyModel tiny;
  const int64_t target = info()["target"];
  for (const std::string map_name : {"random", "ties"}) {
    const std::vector<float> map = read_map("map_" + map_name + ".npy");
    for (const std::string substrate : {"zeros", "blur"}) {
      const nlohmann::json& expected = info()["curves"][map_name + "_" + substrate];
      CurveOptions options;
      options.steps = info()["steps"];
      options.substrate = parse_substrate(substrate);
      options.batch_size = 3;  // not dividing the 8 points
      const Curve deletion = deletion_curve(tiny.classifier, tiny.image, map, target, options);
      const Curve insertion = insertion_curve(tiny.classifier, tiny.image, map, target, options);
      const std::vector<double> expected_deletion = expected["deletion"];
      const std::vector<double> expected_insertion = expected["insertion"];
      ASSERT_EQ(deletion.scores.size(), expected_deletion.size());
      ASSERT_EQ(insertion.scores.size(), expected_insertion.size());
      for (size_t k = 0; k < deletion.scores.size(); ++k) {
        EXPECT_NEAR(deletion.scores[k], expected_deletion[k], 1e-5) << map_name << substrate << k;
        EXPECT_NEAR(insertion.scores[k], expected_insertion[k], 1e-5) << map_name << substrate << k;
      }
      EXPECT_NEAR(deletion.area, double(expected["deletion_area"]), 1e-5);
      EXPECT_NEAR(insertion.area, double(expected["insertion_area"]), 1e-5);
    }
  }
}

TEST(DeletionInsertion, AreaAndOrderConventions) {
  EXPECT_DOUBLE_EQ(curve_area({1.0, 0.0}), 0.5);
  EXPECT_DOUBLE_EQ(curve_area({1.0, 1.0, 1.0}), 1.0);
  EXPECT_DOUBLE_EQ(curve_area({0.0, 1.0, 0.0, 0.0}), 1.0 / 3.0);
  EXPECT_EQ(saliency_order({0.5f, 2.0f, 0.5f, 3.0f}), (std::vector<int64_t>{3, 1, 0, 2}));
  EXPECT_THROW(parse_substrate("noise"), InvalidArgument);
  TinyModel tiny;
  EXPECT_THROW(deletion_curve(tiny.classifier, tiny.image, std::vector<float>(10), 0),
               InvalidArgument);
}

TEST(SensitivityN, MatchesTheReferenceForExplicitSubsets) {
  TinyModel tiny;
  const int64_t target = info()["target"];
  const std::vector<float> attribution = read_map("sensitivity_attribution.npy");
  for (const auto& entry : info()["sensitivity"]) {
    const int64_t n = entry["n"];
    const Tensor table =
        weights::read_npy(fixture("sensitivity_subsets_" + std::to_string(n) + ".npy"));
    std::vector<std::vector<int64_t>> subsets;
    const std::vector<double> flat = table.to_vector();
    for (int64_t s = 0; s < table.size(0); ++s)
      subsets.emplace_back(flat.begin() + s * n, flat.begin() + (s + 1) * n);
    const double r =
        sensitivity_correlation(tiny.classifier, tiny.image, attribution, target, subsets, 5);
    EXPECT_NEAR(r, double(entry["correlation"]), 1e-4) << "n = " << n;
  }
}

// Ancona et al.: on a linear model, gradient x input (summed over channels) predicts every
// removal exactly, so sensitivity-n is 1 for every n.
TEST(SensitivityN, GradientTimesInputIsExactOnALinearModel) {
  Generator generator(3);
  const Tensor weight = randn({4, 3 * 8 * 6}, generator);
  const Tensor bias = randn({4}, generator);
  const Classifier linear_model = [&](const Tensor& x) {
    return linear(reshape(x, {x.size(0), 3 * 8 * 6}), weight, bias);
  };
  const Tensor image = randn({1, 3, 8, 6}, generator);
  const Explanation explanation = explain(linear_model, image, Method::GradientXInput, 2);
  const std::vector<float> attribution =
      reduce_to_map(explanation.attribution, ChannelReduction::Sum, 8, 6, "bilinear");
  SensitivityOptions options;
  options.fractions = {0.05, 0.25, 0.5};
  options.samples = 20;
  const SensitivityResult result = sensitivity_n(linear_model, image, attribution, 2, options);
  ASSERT_EQ(result.sizes, (std::vector<int64_t>{2, 12, 24}));
  for (double r : result.correlations) EXPECT_NEAR(r, 1.0, 1e-5);
  // A map unrelated to the model does not.
  const SensitivityResult noise =
      sensitivity_n(linear_model, image, random_map(8, 6, 5), 2, options);
  for (double r : noise.correlations) EXPECT_LT(std::abs(r), 0.9);
}

TEST(SensitivityN, SubsetsAreDistinctAndReproducible) {
  const auto a = random_subsets(100, 30, 4, 9), b = random_subsets(100, 30, 4, 9);
  EXPECT_EQ(a, b);
  for (auto subset : a) {
    std::sort(subset.begin(), subset.end());
    EXPECT_EQ(std::unique(subset.begin(), subset.end()), subset.end());
    EXPECT_GE(subset.front(), 0);
    EXPECT_LT(subset.back(), 100);
  }
  EXPECT_NE(random_subsets(100, 30, 4, 10), a);
}

TEST(SanityCheck, SpearmanMatchesScipyWithTies) {
  EXPECT_NEAR(spearman_correlation(read_map("spearman_a.npy"), read_map("spearman_b.npy")),
              double(info()["spearman"]), 1e-9);
}

// Adebayo et al.: randomizing the network destroys the vanilla gradient's map; guided
// backprop keeps much more of its structure. The model's weights are restored afterwards.
TEST(SanityCheck, CascadingRandomizationSeparatesTheMethodsAndRestoresTheModel) {
  const LoadedModel loaded = load_shapes_model();
  const Classifier classifier = [&](const Tensor& x) { return loaded.network->forward(x); };
  const Tensor image =
      load_model_input(SALIENCY_TEST_DATA_DIR "/shapes_ring.png", loaded.info.preprocessing());
  const int64_t target = top_class(classifier, image);
  auto map_of = [&](Method method) {
    return [&, method](const Classifier& model) {
      const Explanation e = explain(model, image, method, target);
      return reduce_to_map(e.attribution, default_reduction(method), 64, 64, "bilinear");
    };
  };
  const std::vector<float> before = map_of(Method::Vanilla)(classifier);
  const auto vanilla =
      cascading_randomization(*loaded.network, classifier, loaded.network->randomization_cascade(),
                              map_of(Method::Vanilla));
  const auto guided =
      cascading_randomization(*loaded.network, classifier, loaded.network->randomization_cascade(),
                              map_of(Method::GuidedBackprop));
  ASSERT_EQ(vanilla.size(), 6u);
  EXPECT_EQ(vanilla.front().layer, "fc");
  EXPECT_EQ(vanilla.back().layer, "conv1");
  for (size_t i = 0; i < vanilla.size(); ++i)
    std::printf("%-7s vanilla %.3f (abs %.3f)   guided %.3f (abs %.3f)\n", vanilla[i].layer.c_str(),
                vanilla[i].spearman, vanilla[i].spearman_abs, guided[i].spearman,
                guided[i].spearman_abs);
  EXPECT_LT(vanilla.back().spearman_abs, 0.5);
  EXPECT_GT(guided[1].spearman_abs, vanilla[1].spearman_abs);
  EXPECT_EQ(map_of(Method::Vanilla)(classifier), before);  // weights restored bit for bit
  EXPECT_THROW(
      cascading_randomization(*loaded.network, classifier, {"layer9"}, map_of(Method::Vanilla)),
      InvalidArgument);
}

TEST(Boxes, ReadsJsonAndCsvAndRejectsBadFilesWithTheirName) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "saliency_boxes";
  std::filesystem::create_directories(dir);
  const std::string json = (dir / "boxes.json").string(), csv = (dir / "boxes.csv").string();
  std::ofstream(json) << R"({"dog.jpg": [{"box": [10, 20, 110.5, 220], "class": 207},
                                         {"box": [0, 0, 5, 5], "class": "tabby"}],
                            "cat.png": [{"box": [1, 2, 3, 4]}]})";
  std::ofstream(csv) << "image,class,x0,y0,x1,y1\ndata/dog.jpg,207,10,20,110,220\n"
                        "cat.png,,1,2,3,4\n";
  for (const std::string& path : {json, csv}) {
    const BoxIndex index = BoxIndex::read(path);
    const auto& dog = index.find("/some/where/dog.jpg");  // matched by file name (JSON)
    const auto& dog_full = index.find("data/dog.jpg");
    const auto& boxes = dog.empty() ? dog_full : dog;
    ASSERT_FALSE(boxes.empty()) << path;
    EXPECT_EQ(boxes[0].label, 207);
    EXPECT_EQ(boxes[0].box.x1, path == json ? 111 : 110);
    EXPECT_TRUE(box_matches(index.find("cat.png")[0], 3, {}));  // no class: any class
    EXPECT_TRUE(index.find("bird.jpg").empty());
  }
  EXPECT_FALSE(box_matches(BoxIndex::read(json).find("dog.jpg")[0], 208, {}));
  std::ofstream(csv) << "dog.jpg,207,10,20,5,220\n";  // x1 < x0
  try {
    BoxIndex::read(csv);
    FAIL();
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("boxes.csv:1"), std::string::npos) << e.what();
  }
  std::ofstream(json) << "{\"dog.jpg\": [{\"box\": [1, 2]}]}";
  EXPECT_THROW(BoxIndex::read(json), InvalidArgument);
  EXPECT_THROW(BoxIndex::read((dir / "missing.json").string()), InvalidArgument);
}

// A 400 x 300 photo: shorter side 300 -> 256 (scale 0.8533, width 341), centre crop 224 from
// (58, 16). A box over the middle maps inside; one in the cropped-off margin vanishes.
TEST(Boxes, FollowResizeAndCentreCrop) {
  const Preprocessing imagenet;
  const Box middle = box_in_model_input({100, 100, 300, 200}, 400, 300, imagenet);
  EXPECT_EQ(middle.x0, int64_t(std::floor(100 * 341.0 / 400)) - 58);
  EXPECT_EQ(middle.y0, int64_t(std::floor(100 * 256.0 / 300)) - 16);
  EXPECT_EQ(middle.x1, int64_t(std::ceil(300 * 341.0 / 400)) - 58);
  EXPECT_EQ(middle.y1, int64_t(std::ceil(200 * 256.0 / 300)) - 16);
  const Box margin = box_in_model_input({0, 0, 40, 300}, 400, 300, imagenet);
  EXPECT_GE(margin.x0, margin.x1);
}

// A diagonal series passes through the middle of the plot area in the first palette colour;
// mismatched series are refused.
TEST(LinePlot, DrawsSeriesWhereTheAxesPutThem) {
  PlotSpec spec;
  spec.title = "test";
  spec.series.push_back({"diagonal", {0.0, 1.0}, {0.0, 1.0}});
  const RgbImage image = line_plot(spec);
  ASSERT_EQ(image.width, 720);
  // Plot area: x from 70 to 530, y from 36 to 390 (left 70, right 190, top 36, bottom 50).
  bool found = false;
  for (int64_t dy = -1; dy <= 1; ++dy)
    for (int64_t dx = -1; dx <= 1; ++dx)
      found |= image.at(213 + dy, 300 + dx, 0) == 31 && image.at(213 + dy, 300 + dx, 2) == 180;
  EXPECT_TRUE(found);
  EXPECT_EQ(image.at(100, 450, 0), 255);  // far from the line: background
  spec.series.push_back({"broken", {0.0}, {0.0, 1.0}});
  EXPECT_THROW(line_plot(spec), InvalidArgument);
}

}  // namespace
}  // namespace saliency
