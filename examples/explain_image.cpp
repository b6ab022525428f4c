// Explaining one prediction with the library, no CLI: load a ResNet, preprocess a photo, ask
// for Integrated Gradients and Grad-CAM for the top class, write overlays.
//   explain_image WEIGHTS IMAGE OUT_DIR
// Built with the project; ctest runs it on the tiny test model (examples.explain_image).
#include <cstdio>
#include <filesystem>

#include "saliency/methods.h"
#include "saliency/predict.h"
#include "saliency/visualize.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s WEIGHTS IMAGE OUT_DIR\n", argv[0]);
    return 2;
  }
  using namespace saliency;
  try {
    const auto model = load_resnet(argv[1]);  // .safetensors or torchvision .pth
    const Classifier classifier = [&](const Tensor& x) { return model->forward(x); };
    const Tensor input = load_model_input(argv[2]);  // resize 256, crop 224, normalize
    const RgbImage picture = to_image(input);

    for (Method method : {Method::IntegratedGradients, Method::GradCam}) {
      const Explanation e = explain(classifier, input, method);  // target: the top class
      const std::vector<float> map =
          reduce_to_map(e.attribution, default_reduction(method), picture.height, picture.width);
      const RgbImage heat = colorize(map, picture.height, picture.width,
                                     is_signed(method) ? "coolwarm" : "inferno", is_signed(method));
      const std::string path =
          (std::filesystem::path(argv[3]) / (method_name(method) + ".png")).string();
      write_png(path, overlay(picture, heat));
      std::printf("%s for class %lld -> %s\n", method_name(method).c_str(),
                  static_cast<long long>(e.target), path.c_str());
    }
  } catch (const std::exception& error) {
    std::fprintf(stderr, "explain_image: %s\n", error.what());
    return 1;
  }
  return 0;
}
