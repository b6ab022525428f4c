#pragma once
// Images in, tensors out: decoding (stb_image: JPEG, PNG, BMP, TGA, GIF first frame; grey and
// RGBA become RGB) with limits checked before any pixel is allocated, and torchvision's ImageNet
// evaluation transform reproduced exactly: Resize(256) with PIL's antialiased bilinear filter in
// its 8-bit fixed-point arithmetic, CenterCrop(224), ToTensor, Normalize.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace saliency {

struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;  // row-major, interleaved R, G, B
  uint8_t at(int64_t y, int64_t x, int channel) const {
    return pixels[static_cast<size_t>((y * width + x) * 3 + channel)];
  }
};

struct ImageLimits {
  int64_t max_pixels = 100'000'000;  // refused before decoding when the header claims more
  int64_t max_file_bytes = 1ll << 30;
};

// Throws InvalidArgument "<path>: <what is wrong>" for unreadable, truncated or oversized files.
RgbImage load_image(const std::string& path, const ImageLimits& limits = {});
RgbImage decode_image(const std::vector<uint8_t>& bytes, const std::string& name,
                      const ImageLimits& limits = {});

// PIL's Image.resize(size, BILINEAR): a triangle filter widened by the scale when shrinking,
// 22-bit fixed-point coefficients, horizontal pass then vertical, each rounded to 8 bits.
RgbImage resize_bilinear_pil(const RgbImage& image, int64_t width, int64_t height);
// torchvision Resize(size) on a PIL image: the shorter side becomes `size`, the longer
// int(size * long / short).
RgbImage resize_shorter_side(const RgbImage& image, int64_t size);
// torchvision CenterCrop: offsets round((H - h) / 2) with Python's round-half-to-even.
RgbImage center_crop(const RgbImage& image, int64_t height, int64_t width);

struct Normalization {
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};  // ImageNet, as torchvision
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
};
// Interleaved 8-bit RGB (plane pixels) -> planar float32 (pixel / 255 - mean) / std.
void normalize_rgb(const uint8_t* rgb, int64_t plane, const Normalization& normalization,
                   float* out);
// [1, 3, H, W] float32: (pixel / 255 - mean) / std per channel.
Tensor to_tensor(const RgbImage& image, const Normalization& normalization = {});

struct Preprocessing {
  int64_t resize = 256;
  int64_t crop = 224;
  Normalization normalization;
  ImageLimits limits;  // applied when the image is read from a file (load_model_input)
};
// The whole evaluation transform: resize_shorter_side, center_crop, to_tensor.
Tensor preprocess(const RgbImage& image, const Preprocessing& preprocessing = {});

}  // namespace saliency
