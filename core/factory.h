#pragma once
// Functions that make new tensors. None of them records autograd history.
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"

namespace saliency {

Tensor zeros(const Shape& shape, DType dtype = DType::Float32);
Tensor ones(const Shape& shape, DType dtype = DType::Float32);
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32);
Tensor zeros_like(const Tensor& like);
// start, start + step, ... up to (not including) end.
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::Float32);
Tensor rand(const Shape& shape, Generator& generator, DType dtype = DType::Float32);   // U[0,1)
Tensor randn(const Shape& shape, Generator& generator, DType dtype = DType::Float32);  // N(0,1)
Tensor from_vector(const Shape& shape, const std::vector<double>& values,
                   DType dtype = DType::Float32);

}  // namespace saliency
