// Load weights, explain an image with Grad-CAM, write the overlay: the whole library path.
//   consumer WEIGHTS IMAGE OUT.png
#include <cstdio>

#include "saliency/methods.h"
#include "saliency/predict.h"
#include "saliency/visualize.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s WEIGHTS IMAGE OUT.png\n", argv[0]);
    return 2;
  }
  try {
    const auto model = saliency::load_resnet(argv[1]);
    const saliency::Tensor input = saliency::load_model_input(argv[2]);
    const auto explanation = saliency::explain(
        [&](const saliency::Tensor& x) { return model->forward(x); }, input,
        saliency::Method::GradCam);
    const saliency::RgbImage picture = saliency::to_image(input);
    const auto map = saliency::reduce_to_map(explanation.attribution,
                                             saliency::ChannelReduction::MaxAbs, picture.height,
                                             picture.width);
    saliency::write_png(argv[3], saliency::overlay(picture, saliency::colorize(
                                                                map, picture.height, picture.width,
                                                                "inferno", false)));
    std::printf("class %lld -> %s\n", static_cast<long long>(explanation.target), argv[3]);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "consumer: %s\n", error.what());
    return 1;
  }
  return 0;
}
