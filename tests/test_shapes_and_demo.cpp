// The shapes dataset, the pointing game, the data loader, training end to end, and the shipped
// (embedded) shapes model.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "autograd/ops.h"
#include "core/error.h"
#include "datasets/shapes.h"
#include "saliency/demo_model.h"
#include "saliency/methods.h"
#include "saliency/metrics.h"
#include "saliency/visualize.h"
#include "train/trainer.h"

namespace saliency {
namespace {

using datasets::make_shape_sample;
using datasets::ShapeSample;

TEST(Shapes, SamplesAreReproducibleAndIndependent) {
  const ShapeSample a = make_shape_sample(7, 3), b = make_shape_sample(7, 3);
  EXPECT_EQ(a.image.pixels, b.image.pixels);
  EXPECT_EQ(a.label, b.label);
  EXPECT_NE(a.image.pixels, make_shape_sample(7, 4).image.pixels);
  EXPECT_NE(a.image.pixels, make_shape_sample(8, 3).image.pixels);
}

TEST(Shapes, BoxIsTheTightBoundOfAPlausibleMask) {
  for (uint64_t i = 0; i < 60; ++i) {
    const ShapeSample s = make_shape_sample(1, i);
    ASSERT_EQ(s.image.width, 64);
    int64_t area = 0, x0 = 64, y0 = 64, x1 = 0, y1 = 0;
    for (int64_t y = 0; y < 64; ++y)
      for (int64_t x = 0; x < 64; ++x)
        if (s.mask[y * 64 + x]) {
          ++area;
          x0 = std::min(x0, x), y0 = std::min(y0, y);
          x1 = std::max(x1, x + 1), y1 = std::max(y1, y + 1);
        }
    EXPECT_EQ((std::vector<int64_t>{s.box.x0, s.box.y0, s.box.x1, s.box.y1}),
              (std::vector<int64_t>{x0, y0, x1, y1}));
    // Radius 7..12 px: even the thin ring or cross covers over 60 pixels.
    EXPECT_GT(area, 60) << "sample " << i;
    EXPECT_LT(area, 32 * 32) << "sample " << i;
  }
}

TEST(Shapes, ClassesAreBalanced) {
  std::vector<int> counts(datasets::shape_class_names().size(), 0);
  for (uint64_t i = 0; i < 1200; ++i) ++counts[make_shape_sample(2, i).label];
  for (int count : counts) EXPECT_NEAR(count, 200, 50);
}

TEST(Shapes, DatasetTensorsEqualToTensorOfTheImage) {
  const datasets::ShapesDataset dataset(5, 3);
  std::vector<float> values(3 * 64 * 64);
  EXPECT_EQ(dataset.get(2, values.data()), make_shape_sample(5, 2).label);
  const Tensor expected = to_tensor(make_shape_sample(5, 2).image);
  EXPECT_EQ(std::vector<float>(expected.data<float>(), expected.data<float>() + values.size()),
            values);
}

TEST(PointingGame, HitsWithinTheToleranceOnly) {
  std::vector<float> map(10 * 20, 0.0f);
  map[4 * 20 + 15] = 1.0f;  // the maximum at x = 15, y = 4
  EXPECT_EQ(map_maximum(map, 10, 20).x, 15);
  EXPECT_EQ(map_maximum(map, 10, 20).y, 4);
  EXPECT_TRUE(pointing_game_hit(map, 10, 20, {{14, 3, 16, 5}}, 0.0));
  // Box [0, 12) x [0, 10): the nearest box pixel is x = 11, four pixels away.
  EXPECT_FALSE(pointing_game_hit(map, 10, 20, {{0, 0, 12, 10}}, 3.9));
  EXPECT_TRUE(pointing_game_hit(map, 10, 20, {{0, 0, 12, 10}}, 4.0));
  // Diagonal: box ends at (11, 0); distance hypot(4, 4).
  EXPECT_FALSE(pointing_game_hit(map, 10, 20, {{0, 0, 12, 1}}, 5.6));
  EXPECT_TRUE(pointing_game_hit(map, 10, 20, {{0, 0, 12, 1}}, 5.7));
  EXPECT_TRUE(pointing_game_hit(map, 10, 20, {{0, 0, 2, 2}, {15, 4, 16, 5}}, 0.0));
  EXPECT_THROW(pointing_game_hit(map, 10, 21, {}, 1.0), InvalidArgument);
}

TEST(PointingGame, OnTheMaskIsStricterThanOnTheBox) {
  // A ring: the box holds its hole, the mask does not.
  std::vector<uint8_t> mask(9 * 9, 0);
  for (int64_t y = 2; y <= 6; ++y)
    for (int64_t x = 2; x <= 6; ++x) mask[y * 9 + x] = (y == 2 || y == 6 || x == 2 || x == 6);
  std::vector<float> map(9 * 9, 0.0f);
  map[4 * 9 + 4] = 1.0f;  // the hole's centre: two pixels from the ring
  EXPECT_TRUE(pointing_game_hit(map, 9, 9, {{2, 2, 7, 7}}, 0.0));
  EXPECT_FALSE(pointing_game_hit_mask(map, 9, 9, mask, 1.9));
  EXPECT_TRUE(pointing_game_hit_mask(map, 9, 9, mask, 2.0));
  EXPECT_THROW(pointing_game_hit_mask(map, 9, 9, std::vector<uint8_t>(80), 1.0), InvalidArgument);
}

TEST(PointingGame, BaselinesPointAtTheCentreAndAtRandom) {
  const Point centre = map_maximum(center_map(64, 64), 64, 64);
  EXPECT_EQ(centre.x, 31);
  EXPECT_EQ(centre.y, 31);
  std::set<int64_t> seen;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    const Point p = map_maximum(random_map(64, 64, seed), 64, 64);
    seen.insert(p.y * 64 + p.x);
  }
  EXPECT_GT(seen.size(), 45u);  // uniform over 4096 pixels: almost never the same twice
}

class CountingDataset : public train::Dataset {
 public:
  explicit CountingDataset(int64_t n) : n_(n) {}
  int64_t size() const override { return n_; }
  Shape sample_shape() const override { return Shape{2}; }
  int64_t get(int64_t index, float* out) const override {
    out[0] = float(index), out[1] = -float(index);
    return index % 3;
  }

 private:
  int64_t n_;
};

TEST(DataLoader, EachEpochIsASeededPermutationInBatches) {
  const CountingDataset data(10);
  train::DataLoader loader(data, {.batch_size = 4, .shuffle = true, .seed = 3});
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  std::vector<int64_t> visited;
  train::Batch batch;
  std::vector<int64_t> sizes;
  while (loader.next(batch)) {
    sizes.push_back(batch.inputs.size(0));
    for (int64_t i = 0; i < batch.inputs.size(0); ++i) {
      EXPECT_EQ(batch.inputs.data<float>()[2 * i], float(batch.indices[i]));
      EXPECT_EQ(batch.labels[i], batch.indices[i] % 3);
      visited.push_back(batch.indices[i]);
    }
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  const std::vector<int64_t> epoch0 = visited;
  std::sort(visited.begin(), visited.end());
  EXPECT_EQ(visited, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  loader.start_epoch(1);
  const std::vector<int64_t> epoch1 = loader.order();
  EXPECT_NE(epoch1, epoch0);
  loader.start_epoch(0);
  EXPECT_EQ(loader.order(), epoch0);

  train::DataLoader dropping(data, {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(dropping.batches_per_epoch(), 2);
}

models::ResNetConfig tiny_net() {
  return models::ResNetConfig({.block = models::BlockKind::Basic,
                               .layers = {1, 1, 1, 1},
                               .num_classes = 2,
                               .base_width = 4,
                               .stem_max_pool = false});
}

struct Interrupted {};

// Two classes a network learns in a few steps: which half of the image holds a brighter square.
class HalvesDataset : public train::Dataset {
 public:
  int64_t size() const override { return 256; }
  Shape sample_shape() const override { return Shape{3, 16, 16}; }
  int64_t get(int64_t index, float* out) const override {
    Generator noise(static_cast<uint64_t>(index));
    const int64_t label = index % 2;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 16; ++y)
        for (int64_t x = 0; x < 16; ++x) {
          const bool bright =
              (label ? x >= 8 : x < 8) && y >= 4 && y < 12 && (x % 8) >= 2 && (x % 8) < 6;
          out[(c * 16 + y) * 16 + x] = float(0.5 * noise.normal() + (bright ? 1.5 : 0.0));
        }
    return label;
  }
};

TEST(Training, LearnsAndResumesFromACheckpointBitForBit) {
  const HalvesDataset train_set, test_set;
  train::TrainOptions options{.epochs = 3,
                              .batch_size = 32,
                              .optimizer = "adam",
                              .learning_rate = 0.01,
                              .warmup_steps = 4,
                              .seed = 5};
  auto make = [] {
    auto net = std::make_unique<models::ResNet>(tiny_net());
    Generator generator(1);
    net->initialize(generator);
    return net;
  };
  // Uninterrupted.
  auto reference = make();
  const auto reports = train::fit(
      *reference, [&](const Tensor& x) { return reference->forward(x); }, train_set, &test_set,
      options);
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_LT(reports.back().loss, 0.5 * reports.front().loss);  // it learns
  EXPECT_GT(reports.back().test_accuracy, 0.9);
  // Interrupted after the first epoch, then resumed from the checkpoint.
  const std::string checkpoint =
      (std::filesystem::temp_directory_path() / "saliency_test_resume.safetensors").string();
  auto first = make();
  train::TrainOptions checkpointing = options;
  checkpointing.checkpoint = checkpoint;
  EXPECT_THROW(train::fit(
                   *first, [&](const Tensor& x) { return first->forward(x); }, train_set, &test_set,
                   checkpointing, [](const train::EpochReport&) { throw Interrupted{}; }),
               Interrupted);
  auto resumed = make();
  train::TrainOptions resuming = options;
  resuming.resume = checkpoint;
  const auto rest = train::fit(
      *resumed, [&](const Tensor& x) { return resumed->forward(x); }, train_set, &test_set,
      resuming);
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest.back().loss, reports.back().loss);
  for (const auto& [name, value] : reference->state_dict())
    EXPECT_EQ(value.to_vector(), resumed->state_dict().at(name).to_vector()) << name;
  std::filesystem::remove(checkpoint);
}

TEST(ShippedShapesModel, EmbeddedBytesAreTheCommittedFile) {
  std::ifstream file(SALIENCY_SOURCE_DIR "/models/shapes-resnet.safetensors", std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(file)), {});
  const std::span<const uint8_t> embedded = embedded_shapes_model_bytes();
  ASSERT_EQ(embedded.size(), bytes.size());
  EXPECT_TRUE(std::equal(embedded.begin(), embedded.end(), bytes.begin(),
                         [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); }));
}

TEST(ShippedShapesModel, ReachesAtLeast95PercentOnAFreshTestSet) {
  const LoadedModel model = load_shapes_model();
  EXPECT_EQ(model.info.labels, datasets::shape_class_names());
  EXPECT_EQ(model.info.input_size, 64);
  // A stream neither training nor its reported test accuracy used.
  const datasets::ShapesDataset fresh(424242, 500);
  const double accuracy =
      train::accuracy([&](const Tensor& x) { return model.network->forward(x); }, fresh);
  EXPECT_GE(accuracy, 0.95);
}

TEST(ShippedShapesModel, ItsMetadataPreprocessesAPngToTheDatasetTensor) {
  const LoadedModel model = load_shapes_model();
  const ShapeSample sample = make_shape_sample(99, 0);
  const std::string path =
      (std::filesystem::temp_directory_path() / "saliency_test_shape.png").string();
  write_png(path, sample.image);
  const Tensor loaded = load_model_input(path, model.info.preprocessing());  // 64x64, no crop
  std::filesystem::remove(path);
  EXPECT_EQ(loaded.to_vector(), to_tensor(sample.image).to_vector());
}

TEST(ShippedShapesModel, GradCamAndIntegratedGradientsBeatTheBaselinesAtPointing) {
  const LoadedModel model = load_shapes_model();
  const Classifier classifier = [&](const Tensor& x) { return model.network->forward(x); };
  MethodOptions options;
  options.batch_size = 50;
  int64_t gradcam = 0, ig = 0, centre = 0, random = 0;
  const int64_t images = 60;
  const double tolerance = 4;
  for (int64_t i = 0; i < images; ++i) {
    const ShapeSample s = make_shape_sample(777, uint64_t(i));
    const Tensor input = to_tensor(s.image);
    auto hit = [&](Method method) {
      const Explanation e = explain(classifier, input, method, s.label, options);
      return pointing_game_hit(reduce_to_map(e.attribution, default_reduction(method), 64, 64), 64,
                               64, {s.box}, tolerance);
    };
    gradcam += hit(Method::GradCam);
    ig += hit(Method::IntegratedGradients);
    centre += pointing_game_hit(center_map(64, 64), 64, 64, {s.box}, tolerance);
    random += pointing_game_hit(random_map(64, 64, uint64_t(i)), 64, 64, {s.box}, tolerance);
  }
  const int64_t best_baseline = std::max(centre, random);
  EXPECT_GE(gradcam, best_baseline + images / 5) << "centre " << centre << ", random " << random;
  EXPECT_GE(ig, best_baseline + images / 5) << "centre " << centre << ", random " << random;
}

}  // namespace
}  // namespace saliency
