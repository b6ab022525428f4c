// Example 07: guided Grad-CAM (Selvaraju et al. 2017) = guided backprop x upsampled Grad-CAM.
//
//   GGC_t[c, i, j] = GB_t[c, i, j] * up(CAM_t)[i, j]
//
// Guided backprop (example 06) has pixel-sharp detail but hardly depends on the class: its
// rule drops the negative signals that would tell classes apart, so it largely reconstructs the
// image's edges (Nie et al. 2018; Adebayo et al. 2018). Grad-CAM (example 05) is
// class-discriminative but coarse. The product keeps guided backprop's detail only where the
// class's CAM is on. The program builds the product by hand, checks it against
// Method::GuidedGradCam, and measures class sensitivity on an image with two objects: the rank
// correlation between the maps for the two classes is high for guided backprop, low for guided
// Grad-CAM.
//
// Run: 07_guided_gradcam [IMAGE [WEIGHTS]] [--out DIR]
#include <cstdio>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "examples/common/example.h"
#include "saliency/sanity.h"
#include "saliency/visualize.h"

using namespace saliency;

namespace {

struct Maps {
  std::vector<float> guided, guided_gradcam;  // H x W, max |.| over channels
};

// Guided backprop, Grad-CAM and their product for one class; prints how far the product by
// hand is from the library's method (relative to its largest value).
Maps guided_gradcam_by_hand(const examples::Setup& s, const Tensor& input, int64_t target) {
  const int64_t height = input.size(2), width = input.size(3);
  MethodOptions options;
  options.layer = s.model.network->default_cam_layer();
  const Explanation guided = explain(s.classifier, input, Method::GuidedBackprop, target, options);
  const Explanation cam = explain(s.classifier, input, Method::GradCam, target, options);
  // Grad-CAM to the input's size (bilinear), then broadcast over the colour channels.
  const std::vector<float> upsampled =
      reduce_to_map(cam.attribution, ChannelReduction::Sum, height, width);
  Tensor product;
  {
    autograd::NoGradGuard no_graph;
    product = mul(guided.attribution,
                  from_vector(Shape{1, 1, height, width},
                              std::vector<double>(upsampled.begin(), upsampled.end())));
  }
  const Explanation library = explain(s.classifier, input, Method::GuidedGradCam, target, options);
  const double difference = examples::max_abs_difference(product, library.attribution);
  const double largest =
      examples::max_abs_difference(library.attribution, zeros(library.attribution.shape()));
  std::printf("%-10s by hand vs Method::GuidedGradCam: max difference %.2g of %.2g\n",
              s.model.info.label(target).c_str(), difference, largest);
  SALIENCY_CHECK(difference <= 1e-6 * largest, "the product by hand is not guided Grad-CAM");
  return {reduce_to_map(guided.attribution, ChannelReduction::MaxAbs, height, width),
          reduce_to_map(library.attribution, ChannelReduction::MaxAbs, height, width)};
}

}  // namespace

int main(int argc, char** argv) try {
  const examples::Setup s = examples::setup(argc, argv, "07_guided_gradcam");
  // Two classes to tell apart: the two objects of a composed shapes image, or the two most
  // likely classes of the given image.
  Tensor input = s.input;
  RgbImage picture = s.picture;
  int64_t first = 0, second = 0;
  if (s.shape) {
    const examples::TwoObjects two = examples::two_objects(s.input.size(2));
    input = preprocess(two.image, s.model.info.preprocessing());
    picture = two.image;
    first = two.left_label, second = two.right_label;
  } else {
    autograd::NoGradGuard inference;
    const auto top = top_k(s.classifier(input).select_batch(0), 2);
    first = top[0].index, second = top[1].index;
  }
  const Maps a = guided_gradcam_by_hand(s, input, first);
  const Maps b = guided_gradcam_by_hand(s, input, second);
  const double guided_similarity = spearman_correlation(a.guided, b.guided);
  const double ggc_similarity = spearman_correlation(a.guided_gradcam, b.guided_gradcam);
  std::printf(
      "rank correlation of the %s and %s maps: guided backprop %.3f, guided Grad-CAM %.3f\n",
      s.model.info.label(first).c_str(), s.model.info.label(second).c_str(), guided_similarity,
      ggc_similarity);

  const int64_t height = input.size(2), width = input.size(3);
  auto draw = [&](const std::vector<float>& map) {
    return colorize(map, height, width, "inferno", false, 99.0);
  };
  examples::save(s, "07_guided_gradcam.png",
                 side_by_side({picture, draw(a.guided), draw(b.guided), draw(a.guided_gradcam),
                               draw(b.guided_gradcam)}));
  return 0;
} catch (const Error& e) {
  std::fprintf(stderr, "07_guided_gradcam: %s\n", e.what());
  return 2;
}
