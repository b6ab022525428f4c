#pragma once
// Pictures people can read: an attribution reduced to one value per pixel, clipped at a
// percentile, mapped through a colormap that suits its sign, and laid over the input image.
#include <array>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "saliency/image.h"
#include "saliency/methods.h"
#include "saliency/metrics.h"

namespace saliency {

// How a [1, C, H, W] attribution becomes one value per pixel: the largest magnitude over
// channels (gradients: vanilla, smoothgrad, guided backprop ...) or the signed sum (IG,
// grad-x-input, whose channels add up to the pixel's contribution).
enum class ChannelReduction { MaxAbs, Sum };
ChannelReduction default_reduction(Method method);
// Whether a method's map is signed (shown with a diverging colormap centred on zero).
bool is_signed(Method method);

// [H, W] values (row-major) from an attribution; Grad-CAM's [1, 1, h, w] maps are upsampled
// to height x width first (bilinear, or "nearest").
std::vector<float> reduce_to_map(const Tensor& attribution, ChannelReduction reduction,
                                 int64_t height, int64_t width,
                                 const std::string& upsampling = "bilinear");

// Colormaps: "viridis", "inferno", "jet" (sequential, for non-negative maps) and "coolwarm"
// (diverging). `signed_map` scales [-m, m] to the colormap, otherwise [0, m] (negative values
// clip to 0), with m the `percentile` of |values| (99 by default).
RgbImage colorize(const std::vector<float>& map, int64_t height, int64_t width,
                  const std::string& colormap, bool signed_map, double percentile = 99.0);
// A method's map (from reduce_to_map) colorized with `colormap` (empty: coolwarm for signed
// methods, inferno otherwise).
RgbImage colorize_for(Method method, const std::vector<float>& map, int64_t height, int64_t width,
                      const std::string& colormap = "", double percentile = 99.0);
// An explanation as a picture of height x width: reduce_to_map with the method's reduction,
// then colorize_for.
RgbImage render_heatmap(const Explanation& explanation, int64_t height, int64_t width,
                        const std::string& upsampling = "bilinear",
                        const std::string& colormap = "", double percentile = 99.0);
// alpha * heat + (1 - alpha) * image, pixel by pixel.
RgbImage overlay(const RgbImage& image, const RgbImage& heat, double alpha = 0.5);
// Undoes ImageNet normalization of a [1, 3, H, W] tensor for display.
RgbImage to_image(const Tensor& normalized, const Normalization& normalization = {});
// Text in stb_easy_font's 6 x 12 px glyphs times `scale`, top-left at (left, top).
void draw_text(RgbImage& image, int64_t left, int64_t top, const std::string& text,
               const std::array<uint8_t, 3>& colour, int scale = 1);
int64_t text_width(const std::string& text, int scale = 1);
// The panel with a white band below holding one line of text per entry (the bitmap font of
// draw_text, at `scale` times its size).
RgbImage with_caption(const RgbImage& panel, const std::vector<std::string>& lines, int scale = 2);
// Tiles images left to right with a gap (they must share a height).
RgbImage side_by_side(const std::vector<RgbImage>& images, int64_t gap = 4);

// Each pixel repeated factor x factor times (small images made visible).
RgbImage upscale_nearest(const RgbImage& image, int64_t factor);
// A one-pixel rectangle outline along the box's border pixels (clipped to the image).
void draw_box(RgbImage& image, const Box& box, const std::array<uint8_t, 3>& colour);

// Writes an 8-bit RGB PNG; throws naming the file when it cannot.
void write_png(const std::string& path, const RgbImage& image);

}  // namespace saliency
