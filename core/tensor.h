#pragma once
// Tensor: a shape, an element type and a device over reference-counted storage. Storage is
// contiguous and shared by views (reshape, batch slices, selecting one batch entry), so a view
// costs no copy. Tensor is a handle: copying a Tensor shares the same tensor, as in PyTorch.
//
// The autograd slots (requires_grad, grad, grad_fn) live here so every tensor can carry them;
// only autograd/ fills them. Methods of this class never record graph nodes: use the ops in
// autograd/ops.h for anything that should be differentiated.
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace saliency {

namespace autograd {
class Node;
}

// A block of memory on one device, 64-byte aligned, returned to the caching allocator when the
// last tensor using it goes away.
class Storage {
 public:
  Storage(size_t bytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }
  // How many times Tensor::fill, set or copy_from wrote into this storage (not writes through
  // data()): what a copy derived from the values (a layer's transposed weight) checks it is
  // current against.
  uint64_t version() const { return version_.load(std::memory_order_acquire); }
  void note_write() { version_.fetch_add(1, std::memory_order_acq_rel); }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
  std::atomic<uint64_t> version_{0};
};

struct TensorImpl;

// Filled by autograd: leaves that require grad get a gradient accumulator, results of recorded
// ops get the node that computes their backward.
struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
  std::shared_ptr<autograd::Node> grad_accumulator;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  size_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::Float32;
  AutogradMeta autograd;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: no storage, defined() is false
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Uninitialized memory from the caching allocator.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int64_t size(int64_t dim) const { return shape()[dim]; }
  int64_t rank() const { return shape().rank(); }
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * element_size(dtype()); }

  // Typed pointer to the first element, in host memory: throws when T does not match dtype()
  // or when the tensor lives on a device (so CPU code handed a device tensor fails with a
  // message instead of reading device memory).
  template <typename T>
  T* data() const;
  void* raw_data() const;
  // The same pointer on whatever device the tensor lives, for that device's kernels.
  template <typename T>
  T* device_data() const;
  void* raw_device_data() const;

  // Views sharing this tensor's storage. They carry no autograd history.
  Tensor view(const Shape& shape) const;
  Tensor slice_batch(int64_t begin, int64_t end) const;  // rows [begin, end) of dim 0
  Tensor select_batch(int64_t index) const;              // row `index` of dim 0, dim 0 dropped
  Tensor detach() const;                                 // same storage, no autograd
  Tensor clone() const;                                  // a fresh copy, no autograd
  Tensor to(DType dtype) const;                          // converted copy (or self if equal)
  Tensor to(Device device) const;                        // copy on `device` (or self if there)
  // Moves the elements to `device` in place: every handle to this tensor (a module's registered
  // parameter and its layer's member alike) sees the new storage; views taken earlier keep the
  // old one.
  Tensor& move_to(Device device);
  bool shares_storage_with(const Tensor& other) const;
  // The storage's write count (Storage::version): changes with every fill, set and copy_from of
  // this tensor or a view of its storage.
  uint64_t version() const;
  bool is_same(const Tensor& other) const { return impl_ == other.impl_; }

  // Element access for tests and small tools (slow: bounds-checked, one element at a time).
  // item(), to_vector() and copy_from() also take device tensors (through a host copy).
  double at(std::initializer_list<int64_t> index) const;
  void set(std::initializer_list<int64_t> index, double value);
  double item() const;  // the single element of a one-element tensor
  std::vector<double> to_vector() const;
  void fill(double value);
  void copy_from(const Tensor& source);  // same shape; converts dtype

  // Autograd slots.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool enabled);  // leaves only
  Tensor grad() const;                      // undefined until a backward pass reaches it
  void set_grad(const Tensor& grad);
  bool is_leaf() const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  AutogradMeta& autograd_meta() const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

 private:
  const TensorImpl& checked() const;
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// "conv2d: input [1, 3, 8, 8] float32 cpu" style description for error messages.
std::string describe(const Tensor& tensor);

// Throws when two tensors an op combines differ in dtype or device.
void check_same_dtype_device(const char* op, const Tensor& a, const Tensor& b);
void check_cpu(const char* op, const Tensor& tensor);

}  // namespace saliency
