#include "examples/common/example.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "core/error.h"
#include "datasets/shapes.h"
#include "saliency/demo_model.h"
#include "saliency/visualize.h"

namespace saliency::examples {

Setup setup(int argc, char** argv, const std::string& example) {
  std::vector<std::string> positional;
  std::string out = "outputs/examples";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--out" && i + 1 < argc)
      out = argv[++i];
    else if (!arg.starts_with("--"))
      positional.push_back(arg);
    else
      throw InvalidArgument(concat("usage: ", example, " [IMAGE [WEIGHTS]] [--out DIR]"));
  }
  SALIENCY_CHECK(positional.size() <= 2, "usage: ", example, " [IMAGE [WEIGHTS]] [--out DIR]");
  Setup s{
      positional.size() == 2 ? load_model(positional[1]) : load_shapes_model(), {}, {}, out, {}};
  if (positional.empty()) {  // held-out shape 3 of the test split (a triangle)
    s.input = preprocess(datasets::make_shape_sample(datasets::kShapesTestSeed, 3).image,
                         s.model.info.preprocessing());
  } else {
    s.input = load_model_input(positional[0], s.model.info.preprocessing());
  }
  s.picture = to_image(s.input, s.model.info.preprocessing().normalization);
  s.classifier = [network = s.model.network.get()](const Tensor& x) { return network->forward(x); };
  std::filesystem::create_directories(out);
  return s;
}

void save(const Setup& setup, const std::string& file, const RgbImage& picture) {
  const std::string path = (std::filesystem::path(setup.out) / file).string();
  // Small inputs (the shapes model's 64 px) are enlarged so the pixels can be seen.
  const int64_t factor = std::max<int64_t>(1, 256 / std::max<int64_t>(1, picture.height));
  write_png(path, factor > 1 ? upscale_nearest(picture, factor) : picture);
  std::printf("wrote %s\n", path.c_str());
}

}  // namespace saliency::examples
