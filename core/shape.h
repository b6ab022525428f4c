#pragma once
// Shape: the extent of each dimension, outermost first (NCHW for images).
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace saliency {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(std::vector<int64_t> dims);

  int64_t rank() const { return static_cast<int64_t>(dims_.size()); }
  int64_t numel() const;
  // Negative indices count from the end, as in Python.
  int64_t operator[](int64_t dim) const;
  int64_t& operator[](int64_t dim);
  const std::vector<int64_t>& dims() const { return dims_; }
  // Resolves a possibly negative dimension index; throws naming `op` when out of range.
  int64_t normalize_dim(int64_t dim, const char* op) const;

  bool operator==(const Shape& other) const = default;
  std::string str() const;  // "[1, 3, 224, 224]"

 private:
  std::vector<int64_t> dims_;
};

std::ostream& operator<<(std::ostream& out, const Shape& shape);

}  // namespace saliency
