#include "saliency/image.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <stb/stb_image.h>

#include "core/error.h"
#include "weights/file_io.h"

namespace saliency {
namespace {

// Where a JPEG's SOI marker ends, or 0 if the bytes are not a JPEG. As stb_image reads it:
// 0xFF, any number of 0xFF fill bytes, then 0xD8 (a plain FF D8 prefix misses files that stb
// still decodes as JPEG, found by fuzzing).
size_t jpeg_start(const std::vector<uint8_t>& bytes) {
  if (bytes.empty() || bytes[0] != 0xFF) return 0;
  size_t pos = 1;
  while (pos < bytes.size() && bytes[pos] == 0xFF) ++pos;
  return pos < bytes.size() && bytes[pos] == 0xD8 ? pos + 1 : 0;
}

bool is_jpeg(const std::vector<uint8_t>& bytes) {
  return jpeg_start(bytes) != 0;
}

// stb_image decodes a cut-off JPEG into partly garbage pixels without complaint; a complete
// JPEG has an end-of-image marker.
bool has_jpeg_end_marker(const std::vector<uint8_t>& bytes) {
  for (size_t i = bytes.size(); i >= 2; --i)
    if (bytes[i - 2] == 0xFF && bytes[i - 1] == 0xD9) return true;
  return false;
}

// stb_image 2.27 (Debian 12's) builds a Huffman table from 16 code counts without checking that
// they total at most 256, and writes past a 257-entry array when they do (found by fuzzing;
// fixed upstream in 2.28). So every DHT segment is checked before stb sees the file: the walk
// goes marker by marker, and across entropy-coded data to the next marker, because
// progressive JPEGs define tables between scans.
void check_jpeg_huffman_tables(const std::vector<uint8_t>& bytes, const std::string& name) {
  const size_t size = bytes.size();
  auto be16 = [&](size_t at) { return size_t(bytes[at]) << 8 | size_t(bytes[at + 1]); };
  size_t pos = jpeg_start(bytes);
  while (pos + 1 < size) {
    if (bytes[pos] != 0xFF) {  // entropy-coded data: skip to the next real marker
      ++pos;
      continue;
    }
    const uint8_t marker = bytes[pos + 1];
    const bool standalone =
        marker == 0x00 || marker == 0xFF || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9);
    if (standalone) {  // stuffed byte, fill, TEM, RSTn, SOI, EOI: no length field
      pos += marker == 0xFF ? 1 : 2;
      continue;
    }
    if (pos + 4 > size) return;
    const size_t length = be16(pos + 2), end = std::min(size, pos + 2 + length);
    if (marker == 0xC4) {
      size_t table = pos + 4;
      while (table < end) {
        size_t codes = 0;  // stb reads bytes past the end of the file as zeros
        for (size_t i = 1; i <= 16 && table + i < size; ++i) codes += bytes[table + i];
        if (codes > 256)
          throw InvalidArgument(concat(name, ": corrupt JPEG (a Huffman table declares ", codes,
                                       " codes; at most 256 exist)"));
        table += 17 + codes;
      }
      // stb accepts only segments its tables fill exactly; holding files to the same rule keeps
      // this walk and stb's reading at the same positions. (A segment cut off by the end of the
      // file is checked as stb reads it, with zeros past the end: the loop above.)
      if (end == pos + 2 + length && table != end)
        throw InvalidArgument(concat(name, ": corrupt JPEG (Huffman table segment of ", length,
                                     " bytes does not match its tables)"));
    }
    pos = std::max(pos + 2 + length, pos + 2);
  }
}

void check_pixel_limit(const std::string& name, int64_t width, int64_t height,
                       const ImageLimits& limits) {
  // Divided, not multiplied: a header may claim 2^32 - 1 on both sides (found by fuzzing).
  if (width <= 0 || height <= 0 || width > limits.max_pixels / height)
    throw InvalidArgument(concat(name, ": image of ", width, " x ", height,
                                 " pixels exceeds the limit of ", limits.max_pixels, " pixels"));
}

// A PNG states its size in the IHDR chunk right after the signature. Checked here because
// stb_image refuses very large PNGs with a generic "unknown type" message.
void check_png_header(const std::vector<uint8_t>& bytes, const std::string& name,
                      const ImageLimits& limits) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (bytes.size() < 24 || !std::equal(kSignature, kSignature + 8, bytes.begin())) return;
  auto big_endian = [&](size_t at) {
    return int64_t(bytes[at]) << 24 | int64_t(bytes[at + 1]) << 16 | int64_t(bytes[at + 2]) << 8 |
           int64_t(bytes[at + 3]);
  };
  check_pixel_limit(name, big_endian(16), big_endian(20), limits);
}

// PIL's fixed-point resampling (Pillow's libImaging/Resample.c): coefficients scaled by
// 2^22 and rounded, sums started at half a unit and shifted back, results clamped to 8 bits.
constexpr int kPrecisionBits = 32 - 8 - 2;

struct FilterCoefficients {
  int64_t taps = 0;              // coefficients per output pixel
  std::vector<int64_t> first;    // first input index of each output
  std::vector<int64_t> count;    // how many inputs each output reads
  std::vector<int32_t> weights;  // [out][taps], fixed point
};

FilterCoefficients bilinear_coefficients(int64_t in_size, int64_t out_size) {
  const double scale = double(in_size) / double(out_size);
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;  // the triangle's support is 1
  FilterCoefficients c;
  c.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.weights.assign(static_cast<size_t>(out_size * c.taps), 0);
  std::vector<double> k(static_cast<size_t>(c.taps));
  for (int64_t out = 0; out < out_size; ++out) {
    const double center = (double(out) + 0.5) * scale;
    const int64_t first = std::max<int64_t>(static_cast<int>(center - support + 0.5), 0);
    const int64_t last = std::min<int64_t>(static_cast<int>(center + support + 0.5), in_size);
    const int64_t count = last - first;
    const double inverse_scale = 1.0 / filter_scale;  // multiplied, as Pillow does: bit-exact
    double total = 0;
    for (int64_t x = 0; x < count; ++x) {
      const double distance = std::abs((double(x + first) - center + 0.5) * inverse_scale);
      k[x] = distance < 1.0 ? 1.0 - distance : 0.0;
      total += k[x];
    }
    for (int64_t x = 0; x < count; ++x) {
      const double w = total != 0.0 ? k[x] / total : k[x];
      const double scaled = w * double(1 << kPrecisionBits);
      c.weights[out * c.taps + x] = static_cast<int32_t>(w < 0 ? scaled - 0.5 : scaled + 0.5);
    }
    c.first[out] = first;
    c.count[out] = count;
  }
  return c;
}

uint8_t clip8(int32_t value) {
  return static_cast<uint8_t>(std::clamp(value >> kPrecisionBits, 0, 255));
}

// One pass along rows (horizontal) or columns (vertical) of an interleaved RGB image.
RgbImage resample_pass(const RgbImage& in, int64_t out_size, bool horizontal) {
  const int64_t in_size = horizontal ? in.width : in.height;
  const FilterCoefficients c = bilinear_coefficients(in_size, out_size);
  RgbImage out{horizontal ? out_size : in.width, horizontal ? in.height : out_size, {}};
  out.pixels.resize(static_cast<size_t>(out.width * out.height * 3));
  const int64_t lines = horizontal ? in.height : in.width;
  for (int64_t line = 0; line < lines; ++line) {
    for (int64_t o = 0; o < out_size; ++o) {
      const int32_t* w = &c.weights[o * c.taps];
      for (int channel = 0; channel < 3; ++channel) {
        int32_t sum = 1 << (kPrecisionBits - 1);
        for (int64_t t = 0; t < c.count[o]; ++t) {
          const int64_t i = c.first[o] + t;
          sum += (horizontal ? in.at(line, i, channel) : in.at(i, line, channel)) * w[t];
        }
        const int64_t y = horizontal ? line : o, x = horizontal ? o : line;
        out.pixels[static_cast<size_t>((y * out.width + x) * 3 + channel)] = clip8(sum);
      }
    }
  }
  return out;
}

}  // namespace

RgbImage decode_image(const std::vector<uint8_t>& bytes, const std::string& name,
                      const ImageLimits& limits) {
  if (bytes.empty()) throw InvalidArgument(concat(name, ": empty file, not an image"));
  const int length = static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX));
  check_png_header(bytes, name, limits);
  if (is_jpeg(bytes) && !has_jpeg_end_marker(bytes))
    throw InvalidArgument(concat(name, ": truncated JPEG (no end-of-image marker)"));
  if (is_jpeg(bytes)) check_jpeg_huffman_tables(bytes, name);
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(bytes.data(), length, &width, &height, &channels))
    throw InvalidArgument(concat(name, ": not a readable image (", stbi_failure_reason(),
                                 "); supported: JPEG, PNG, BMP, TGA, GIF"));
  check_pixel_limit(name, width, height, limits);
  std::unique_ptr<stbi_uc, void (*)(void*)> decoded(
      stbi_load_from_memory(bytes.data(), length, &width, &height, &channels, 3), stbi_image_free);
  if (!decoded)
    throw InvalidArgument(concat(name, ": cannot decode image (", stbi_failure_reason(), ")"));
  RgbImage image{width, height, {}};
  image.pixels.assign(decoded.get(), decoded.get() + size_t(width) * size_t(height) * 3);
  return image;
}

RgbImage load_image(const std::string& path, const ImageLimits& limits) {
  weights::InputFile file(path);
  if (file.size() > uint64_t(limits.max_file_bytes))
    throw InvalidArgument(concat(path, ": file of ", file.size(), " bytes exceeds the limit of ",
                                 limits.max_file_bytes, " bytes"));
  std::vector<uint8_t> bytes(file.size());
  file.read_at(0, bytes.data(), bytes.size());
  return decode_image(bytes, path, limits);
}

RgbImage resize_bilinear_pil(const RgbImage& image, int64_t width, int64_t height) {
  SALIENCY_CHECK(width >= 1 && height >= 1, "resize: target size ", width, " x ", height,
                 " must be positive");
  RgbImage out = image;
  if (width != image.width) out = resample_pass(out, width, true);
  if (height != image.height) out = resample_pass(out, height, false);
  return out;
}

RgbImage resize_shorter_side(const RgbImage& image, int64_t size) {
  const bool wide = image.width >= image.height;
  const int64_t shorter = wide ? image.height : image.width;
  const int64_t longer = wide ? image.width : image.height;
  const int64_t scaled = static_cast<int64_t>(double(size) * double(longer) / double(shorter));
  return wide ? resize_bilinear_pil(image, scaled, size) : resize_bilinear_pil(image, size, scaled);
}

RgbImage center_crop(const RgbImage& image, int64_t height, int64_t width) {
  SALIENCY_CHECK(height <= image.height && width <= image.width, "center_crop: ", height, " x ",
                 width, " is larger than the image (", image.height, " x ", image.width, ")");
  const auto top = static_cast<int64_t>(std::nearbyint(double(image.height - height) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint(double(image.width - width) / 2.0));
  RgbImage out{width, height, {}};
  out.pixels.resize(static_cast<size_t>(width * height * 3));
  for (int64_t y = 0; y < height; ++y)
    std::copy_n(&image.pixels[static_cast<size_t>(((top + y) * image.width + left) * 3)], width * 3,
                &out.pixels[static_cast<size_t>(y * width * 3)]);
  return out;
}

void normalize_rgb(const uint8_t* rgb, int64_t plane, const Normalization& normalization,
                   float* out) {
  for (int channel = 0; channel < 3; ++channel)
    for (int64_t i = 0; i < plane; ++i) {
      const float value = float(rgb[i * 3 + channel]) / 255.0f;
      out[channel * plane + i] = (value - normalization.mean[channel]) / normalization.std[channel];
    }
}

Tensor to_tensor(const RgbImage& image, const Normalization& normalization) {
  Tensor tensor = Tensor::empty({1, 3, image.height, image.width});
  normalize_rgb(image.pixels.data(), image.height * image.width, normalization,
                tensor.data<float>());
  return tensor;
}

Tensor preprocess(const RgbImage& image, const Preprocessing& p) {
  // A thin image grows on resize: 1 x 16385 pixels become 256 x 4 million. Refuse before
  // allocating (found by fuzzing).
  const double shorter = double(std::min(image.width, image.height));
  const double longer = double(std::max(image.width, image.height));
  const double resized_pixels = double(p.resize) * double(p.resize) * longer / shorter;
  if (resized_pixels > double(p.limits.max_pixels))
    throw InvalidArgument(concat("image of ", image.width, " x ", image.height,
                                 " pixels is too elongated: resizing its shorter side to ",
                                 p.resize, " would make ", int64_t(resized_pixels),
                                 " pixels, over the limit of ", p.limits.max_pixels));
  return to_tensor(center_crop(resize_shorter_side(image, p.resize), p.crop, p.crop),
                   p.normalization);
}

}  // namespace saliency
