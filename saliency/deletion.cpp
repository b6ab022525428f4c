#include "saliency/deletion.h"

#include <algorithm>
#include <numeric>

#include "autograd/grad_mode.h"
#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"

namespace saliency {
namespace {

Tensor substrate_for(const Tensor& image, const CurveOptions& options) {
  if (options.substrate == Substrate::Zeros) return zeros_like(image);
  return gaussian_blur(image, options.blur_kernel, options.blur_sigma);
}

// Scores the path from `start` to `finish`: image k has its first min(k p, HW) pixels (in
// `order`) taken from `finish`, the rest from `start`. Batched; one probability per image.
Curve walk(const Classifier& model, const Tensor& start, const Tensor& finish,
           const std::vector<int64_t>& order, int64_t target, const CurveOptions& options) {
  SALIENCY_CHECK(options.steps >= 1, "deletion/insertion: steps must be at least 1, got ",
                 options.steps);
  const int64_t channels = start.size(1), plane = start.size(2) * start.size(3);
  const int64_t per_step = (plane + options.steps - 1) / options.steps;
  const int64_t points = (plane + per_step - 1) / per_step + 1;
  autograd::NoGradGuard inference;
  Curve curve;
  Tensor current = start.clone();
  for_each_chunk(points, options.batch_size, [&](int64_t begin, int64_t end) {
    Tensor batch =
        Tensor::empty({end - begin, channels, start.size(2), start.size(3)}, start.dtype());
    for (int64_t k = begin; k < end; ++k) {
      if (k > 0) {  // move the pixels of step k - 1 from finish into current
        dispatch_dtype(current.dtype(), [&]<typename T>() {
          T* to = current.data<T>();
          const T* from = finish.data<T>();
          const int64_t first = (k - 1) * per_step, last = std::min(plane, k * per_step);
          for (int64_t c = 0; c < channels; ++c)
            for (int64_t i = first; i < last; ++i)
              to[c * plane + order[size_t(i)]] = from[c * plane + order[size_t(i)]];
        });
      }
      batch.slice_batch(k - begin, k - begin + 1).copy_from(current);
    }
    const Tensor probabilities = softmax(model(batch), 1);
    SALIENCY_CHECK(target >= 0 && target < probabilities.size(1), "target class ", target,
                   " is out of range for a model with ", probabilities.size(1), " classes");
    for (int64_t k = begin; k < end; ++k)
      curve.scores.push_back(probabilities.at({k - begin, target}));
  });
  curve.area = curve_area(curve.scores);
  return curve;
}

void check_inputs(const Tensor& image, const std::vector<float>& map) {
  SALIENCY_CHECK(image.rank() == 4 && image.size(0) == 1,
                 "deletion/insertion: expected one image [1, C, H, W], got ", image.shape());
  SALIENCY_CHECK(int64_t(map.size()) == image.size(2) * image.size(3), "deletion/insertion: a ",
                 map.size(), "-value map for a ", image.size(2), " x ", image.size(3), " image");
}

}  // namespace

Substrate parse_substrate(const std::string& name) {
  if (name == "zeros") return Substrate::Zeros;
  SALIENCY_CHECK(name == "blur", "unknown substrate '", name, "' (known: zeros, blur)");
  return Substrate::Blur;
}

std::string substrate_name(Substrate substrate) {
  return substrate == Substrate::Zeros ? "zeros" : "blur";
}

std::vector<int64_t> saliency_order(const std::vector<float>& map) {
  std::vector<int64_t> order(map.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return map[size_t(a)] > map[size_t(b)]; });
  return order;
}

double curve_area(const std::vector<double>& scores) {
  SALIENCY_CHECK(scores.size() >= 2, "curve_area: needs at least two points, got ", scores.size());
  const double total = std::accumulate(scores.begin(), scores.end(), 0.0);
  return (total - scores.front() / 2 - scores.back() / 2) / double(scores.size() - 1);
}

Curve deletion_curve(const Classifier& model, const Tensor& image, const std::vector<float>& map,
                     int64_t target, const CurveOptions& options) {
  check_inputs(image, map);
  return walk(model, image.detach(), substrate_for(image.detach(), options), saliency_order(map),
              target, options);
}

Curve insertion_curve(const Classifier& model, const Tensor& image, const std::vector<float>& map,
                      int64_t target, const CurveOptions& options) {
  check_inputs(image, map);
  return walk(model, substrate_for(image.detach(), options), image.detach(), saliency_order(map),
              target, options);
}

}  // namespace saliency
