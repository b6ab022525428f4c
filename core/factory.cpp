#include "core/factory.h"

#include <cmath>

#include "core/error.h"

namespace saliency {

Tensor full(const Shape& shape, double value, DType dtype) {
  Tensor tensor = Tensor::empty(shape, dtype);
  tensor.fill(value);
  return tensor;
}

Tensor zeros(const Shape& shape, DType dtype) {
  return full(shape, 0.0, dtype);
}
Tensor ones(const Shape& shape, DType dtype) {
  return full(shape, 1.0, dtype);
}
Tensor zeros_like(const Tensor& like) {
  return zeros(like.shape(), like.dtype());
}

Tensor arange(double start, double end, double step, DType dtype) {
  SALIENCY_CHECK(step != 0.0 && std::isfinite(start) && std::isfinite(end),
                 "arange: bad range start=", start, " end=", end, " step=", step);
  const auto count = static_cast<int64_t>(std::max(0.0, std::ceil((end - start) / step)));
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[i] = start + static_cast<double>(i) * step;
  return from_vector({count}, values, dtype);
}

namespace {
template <typename Draw>
Tensor sampled(const Shape& shape, DType dtype, Draw draw) {
  Tensor tensor = Tensor::empty(shape, dtype);
  dispatch_dtype(dtype, [&]<typename T>() {
    T* p = tensor.data<T>();
    const int64_t count = tensor.numel();
    for (int64_t i = 0; i < count; ++i) p[i] = static_cast<T>(draw());
  });
  return tensor;
}
}  // namespace

Tensor rand(const Shape& shape, Generator& generator, DType dtype) {
  return sampled(shape, dtype, [&] { return generator.uniform(); });
}

Tensor randn(const Shape& shape, Generator& generator, DType dtype) {
  return sampled(shape, dtype, [&] { return generator.normal(); });
}

Tensor from_vector(const Shape& shape, const std::vector<double>& values, DType dtype) {
  SALIENCY_CHECK(static_cast<int64_t>(values.size()) == shape.numel(),
                 "from_vector: ", values.size(), " values for shape ", shape);
  Tensor tensor = Tensor::empty(shape, dtype);
  dispatch_dtype(dtype, [&]<typename T>() {
    T* p = tensor.data<T>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return tensor;
}

}  // namespace saliency
