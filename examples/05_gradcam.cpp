// Example 05: Grad-CAM (Selvaraju et al. 2017) at several layers and for several classes.
//
//   alpha_k = 1/(h w) sum_ij d y_t / d A_k[i, j]        (how much channel k matters for class t)
//   CAM_t   = relu(sum_k alpha_k A_k)                   (at the layer's h x w resolution)
//
// A is a layer's activation; the backward pass stops there, so Grad-CAM costs one forward and
// a partial backward. Deep layers have few, class-specific channels on a coarse grid; early
// layers have a fine grid but channels that respond to edges of anything, so their maps stop
// being about the class. Because alpha depends on t, the map changes with the class asked for:
// on an image holding two objects each class lights up its own.
//
// Run: 05_gradcam [IMAGE [WEIGHTS]] [--out DIR]
#include <cstdio>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "examples/common/example.h"
#include "saliency/metrics.h"
#include "saliency/visualize.h"

using namespace saliency;

namespace {

// The Grad-CAM of `layer` for `target`, upsampled to the input, over the picture.
RgbImage cam_picture(const examples::Setup& s, const Tensor& input, const RgbImage& picture,
                     const std::string& layer, int64_t target, std::vector<float>* map_out) {
  MethodOptions options;
  options.layer = layer;
  const Explanation e = explain(s.classifier, input, Method::GradCam, target, options);
  const int64_t height = input.size(2), width = input.size(3);
  const std::vector<float> map = reduce_to_map(e.attribution, ChannelReduction::Sum, height, width);
  if (map_out) *map_out = map;
  std::printf("  %-8s %3lld x %-3lld %-10s", layer.c_str(),
              static_cast<long long>(e.attribution.size(2)),
              static_cast<long long>(e.attribution.size(3)), s.model.info.label(target).c_str());
  return overlay(picture, colorize(map, height, width, "jet", false, 99.0));
}

}  // namespace

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "05_gradcam");
  const int64_t target = top_class(s.classifier, s.input);

  // 1. One class, layer by layer (ResNets name their stages layer1..layer4; other models show
  //    their default layer).
  std::vector<std::string> layers = {s.model.network->default_cam_layer()};
  if (s.model.network->architecture() == "resnet")
    layers = {"layer1", "layer2", "layer3", "layer4"};
  std::printf("Grad-CAM by layer:\n");
  std::vector<RgbImage> by_layer = {s.picture};
  for (const std::string& layer : layers) {
    std::vector<float> map;
    by_layer.push_back(cam_picture(s, s.input, s.picture, layer, target, &map));
    if (s.shape) {
      std::printf(" points at the object: %s",
                  pointing_game_hit_mask(map, s.input.size(2), s.input.size(3), s.shape->mask, 1.0)
                      ? "yes"
                      : "no");
    }
    std::printf("\n");
  }
  examples::save(s, "05_gradcam_layers.png", side_by_side(by_layer));

  // 2. Several classes at the default layer: the three highest logits, and on the shapes model
  //    an image with two objects, explained for each of the two classes.
  const std::string layer = s.model.network->default_cam_layer();
  Tensor input = s.input;
  RgbImage picture = s.picture;
  std::vector<int64_t> targets;
  if (s.shape) {
    const examples::TwoObjects two = examples::two_objects(s.input.size(2));
    input = preprocess(two.image, s.model.info.preprocessing());
    picture = two.image;
    targets = {two.left_label, two.right_label};
    std::printf("two objects: a %s on the left, a %s on the right\n",
                s.model.info.label(two.left_label).c_str(),
                s.model.info.label(two.right_label).c_str());
  }
  Tensor logits;
  {
    autograd::NoGradGuard inference;
    logits = s.classifier(input);
  }
  for (const Prediction& p : top_k(logits.select_batch(0), 3, s.model.info.labels)) {
    std::printf("  top: %-10s %5.1f%%\n", s.model.info.label(p.index).c_str(), 100 * p.probability);
    if (!s.shape) targets.push_back(p.index);
  }
  std::printf("Grad-CAM by class:\n");
  std::vector<RgbImage> by_class = {picture};
  for (int64_t t : targets) {
    std::vector<float> map;
    by_class.push_back(cam_picture(s, input, picture, layer, t, &map));
    const Point peak = map_maximum(map, input.size(2), input.size(3));
    std::printf(" peak at x = %lld (%s half)\n", static_cast<long long>(peak.x),
                2 * peak.x < input.size(3) ? "left" : "right");
  }
  examples::save(s, "05_gradcam_classes.png", side_by_side(by_class));
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "05_gradcam: %s\n", e.what());
  return 2;
}
