#pragma once
// Element types. Models and kernels run in float32; float64 exists so that gradient checks can
// compare against finite differences without float32's rounding noise.
#include <cstddef>
#include <string_view>

namespace saliency {

enum class DType { Float32, Float64 };

inline size_t element_size(DType dtype) {
  return dtype == DType::Float32 ? 4 : 8;
}
inline std::string_view dtype_name(DType dtype) {
  return dtype == DType::Float32 ? "float32" : "float64";
}

template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}

// Calls fn.template operator()<T>() with T = the C++ type of `dtype`.
template <typename Fn>
decltype(auto) dispatch_dtype(DType dtype, Fn&& fn) {
  if (dtype == DType::Float64) return fn.template operator()<double>();
  return fn.template operator()<float>();
}

}  // namespace saliency
