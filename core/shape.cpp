#include "core/shape.h"

#include <ostream>

#include "core/error.h"

namespace saliency {

Shape::Shape(std::initializer_list<int64_t> dims) : Shape(std::vector<int64_t>(dims)) {}

Shape::Shape(std::vector<int64_t> dims) : dims_(std::move(dims)) {
  for (int64_t d : dims_) SALIENCY_CHECK(d >= 0, "negative dimension in shape ", str());
}

int64_t Shape::numel() const {
  int64_t count = 1;
  for (int64_t d : dims_)
    SALIENCY_CHECK(!__builtin_mul_overflow(count, d, &count), "shape ", str(),
                   " has more elements than fit in 64 bits");
  return count;
}

int64_t Shape::normalize_dim(int64_t dim, const char* op) const {
  const int64_t resolved = dim < 0 ? dim + rank() : dim;
  SALIENCY_CHECK(resolved >= 0 && resolved < rank(), op, ": dimension ", dim,
                 " is out of range for shape ", str());
  return resolved;
}

int64_t Shape::operator[](int64_t dim) const {
  return dims_[normalize_dim(dim, "Shape[]")];
}
int64_t& Shape::operator[](int64_t dim) {
  return dims_[normalize_dim(dim, "Shape[]")];
}

std::string Shape::str() const {
  std::string text = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) text += ", ";
    text += std::to_string(dims_[i]);
  }
  return text + "]";
}

std::ostream& operator<<(std::ostream& out, const Shape& shape) {
  return out << shape.str();
}

}  // namespace saliency
