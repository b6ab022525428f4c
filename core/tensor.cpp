#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "core/allocator.h"
#include "core/device_memory.h"
#include "core/error.h"

namespace saliency {

Storage::Storage(size_t bytes, Device device) : bytes_(bytes), device_(device) {
  data_ = device.is_cpu() ? CpuAllocator::instance().allocate(bytes)
                          : device_memory::allocate(device, bytes);
}

Storage::~Storage() {
  if (device_.is_cpu())
    CpuAllocator::instance().release(data_, bytes_);
  else
    device_memory::release(device_, data_, bytes_);
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage =
      std::make_shared<Storage>(static_cast<size_t>(shape.numel()) * element_size(dtype), device);
  impl->shape = shape;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

const TensorImpl& Tensor::checked() const {
  SALIENCY_CHECK(impl_ != nullptr, "use of an undefined tensor");
  return *impl_;
}

const Shape& Tensor::shape() const {
  return checked().shape;
}
DType Tensor::dtype() const {
  return checked().dtype;
}
Device Tensor::device() const {
  return checked().storage->device();
}

void* Tensor::raw_device_data() const {
  const TensorImpl& impl = checked();
  return static_cast<char*>(impl.storage->data()) + impl.offset * element_size(impl.dtype);
}

void* Tensor::raw_data() const {
  SALIENCY_CHECK(device().is_cpu(), "a tensor on ", device().str(),
                 " was read on the host: this operation has no ", device().str(),
                 " kernel (move the tensor with .to(Device::cpu()) first)");
  return raw_device_data();
}

template <typename T>
T* Tensor::device_data() const {
  SALIENCY_CHECK(dtype() == dtype_of<T>(), "tensor of dtype ", dtype_name(dtype()), " accessed as ",
                 dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_device_data());
}

template <typename T>
T* Tensor::data() const {
  SALIENCY_CHECK(dtype() == dtype_of<T>(), "tensor of dtype ", dtype_name(dtype()), " accessed as ",
                 dtype_name(dtype_of<T>()));
  return static_cast<T*>(raw_data());
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template float* Tensor::device_data<float>() const;
template double* Tensor::device_data<double>() const;

namespace {
Tensor view_of(const TensorImpl& base, size_t offset, Shape shape) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage;
  impl->offset = offset;
  impl->shape = std::move(shape);
  impl->dtype = base.dtype;
  return Tensor(std::move(impl));
}
}  // namespace

Tensor Tensor::view(const Shape& shape) const {
  SALIENCY_CHECK(shape.numel() == numel(), "view: cannot view ", this->shape(), " as ", shape, " (",
                 numel(), " vs ", shape.numel(), " elements)");
  return view_of(checked(), impl_->offset, shape);
}

Tensor Tensor::slice_batch(int64_t begin, int64_t end) const {
  SALIENCY_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= size(0), "slice_batch: rows [",
                 begin, ", ", end, ") out of range for ", shape());
  std::vector<int64_t> dims = shape().dims();
  const int64_t row = numel() / std::max<int64_t>(dims[0], 1);
  dims[0] = end - begin;
  return view_of(checked(), impl_->offset + begin * row, Shape(dims));
}

Tensor Tensor::select_batch(int64_t index) const {
  SALIENCY_CHECK(rank() >= 1 && 0 <= index && index < size(0), "select_batch: index ", index,
                 " out of range for ", shape());
  std::vector<int64_t> dims(shape().dims().begin() + 1, shape().dims().end());
  const int64_t row = numel() / size(0);
  return view_of(checked(), impl_->offset + index * row, Shape(dims));
}

Tensor Tensor::detach() const {
  return view_of(checked(), impl_->offset, shape());
}

Tensor Tensor::clone() const {
  Tensor copy = empty(shape(), dtype(), device());
  if (device().is_cpu())
    std::memcpy(copy.raw_data(), raw_data(), nbytes());
  else
    device_memory::copy_within_device(device(), copy.raw_device_data(), raw_device_data(),
                                      nbytes());
  return copy;
}

Tensor Tensor::to(Device target) const {
  if (target == device()) return *this;
  SALIENCY_CHECK(device().is_cpu() || target.is_cpu(), "to(", target.str(), "): copies between ",
                 device().str(), " and another device go through the host");
  Tensor moved = empty(shape(), dtype(), target);
  if (target.is_cpu())
    device_memory::copy_device_to_host(device(), moved.raw_data(), raw_device_data(), nbytes());
  else
    device_memory::copy_host_to_device(target, moved.raw_device_data(), raw_data(), nbytes());
  return moved;
}

Tensor& Tensor::move_to(Device target) {
  if (target == device()) return *this;
  const Tensor moved = to(target);
  impl_->storage = moved.impl_->storage;
  impl_->offset = moved.impl_->offset;
  return *this;
}

Tensor Tensor::to(DType target) const {
  if (target == dtype()) return *this;
  Tensor converted = empty(shape(), target, device());
  converted.copy_from(*this);
  return converted;
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

namespace {
int64_t flat_index(const Shape& shape, std::initializer_list<int64_t> index) {
  SALIENCY_CHECK(static_cast<int64_t>(index.size()) == shape.rank(), "at: ", index.size(),
                 " indices for a tensor of shape ", shape);
  int64_t flat = 0, dim = 0;
  for (int64_t i : index) {
    SALIENCY_CHECK(i >= 0 && i < shape[dim], "at: index ", i, " out of range in dimension ", dim,
                   " of ", shape);
    flat = flat * shape[dim++] + i;
  }
  return flat;
}
}  // namespace

double Tensor::at(std::initializer_list<int64_t> index) const {
  const int64_t i = flat_index(shape(), index);
  return dispatch_dtype(dtype(), [&]<typename T>() { return double(data<T>()[i]); });
}

void Tensor::set(std::initializer_list<int64_t> index, double value) {
  const int64_t i = flat_index(shape(), index);
  dispatch_dtype(dtype(), [&]<typename T>() { data<T>()[i] = static_cast<T>(value); });
  checked().storage->note_write();
}

double Tensor::item() const {
  SALIENCY_CHECK(numel() == 1, "item: tensor of shape ", shape(), " has ", numel(), " elements");
  if (!device().is_cpu()) return to(Device::cpu()).item();
  return dispatch_dtype(dtype(), [&]<typename T>() { return double(data<T>()[0]); });
}

std::vector<double> Tensor::to_vector() const {
  if (!device().is_cpu()) return to(Device::cpu()).to_vector();
  return dispatch_dtype(dtype(), [&]<typename T>() {
    const T* p = data<T>();
    return std::vector<double>(p, p + numel());
  });
}

void Tensor::fill(double value) {
  dispatch_dtype(dtype(), [&]<typename T>() { std::fill_n(data<T>(), numel(), T(value)); });
  checked().storage->note_write();
}

uint64_t Tensor::version() const {
  return checked().storage->version();
}

void Tensor::copy_from(const Tensor& source) {
  SALIENCY_CHECK(source.shape() == shape(), "copy_from: shape ", source.shape(), " into ", shape());
  if (!device().is_cpu() || !source.device().is_cpu()) {  // through the host, converted there
    const Tensor staged = source.to(Device::cpu()).to(dtype());
    if (device().is_cpu())
      std::memcpy(raw_data(), staged.raw_data(), nbytes());
    else
      device_memory::copy_host_to_device(device(), raw_device_data(), staged.raw_data(), nbytes());
  } else {
    dispatch_dtype(dtype(), [&]<typename To>() {
      dispatch_dtype(source.dtype(), [&]<typename From>() {
        std::copy_n(source.data<From>(), numel(), data<To>());
      });
    });
  }
  // After the values: whoever sees the new version finds them written.
  checked().storage->note_write();
}

bool Tensor::requires_grad() const {
  const TensorImpl& impl = checked();
  return impl.autograd.requires_grad || impl.autograd.grad_fn != nullptr;
}

Tensor& Tensor::set_requires_grad(bool enabled) {
  SALIENCY_CHECK(is_leaf(),
                 "set_requires_grad: only leaf tensors (not results of recorded ops)"
                 " can be marked; use detach() first");
  impl_->autograd.requires_grad = enabled;
  return *this;
}

Tensor Tensor::grad() const {
  return Tensor(checked().autograd.grad);
}

void Tensor::set_grad(const Tensor& grad) {
  if (grad.defined())
    SALIENCY_CHECK(grad.shape() == shape(), "set_grad: gradient of shape ", grad.shape(),
                   " for a tensor of shape ", shape());
  impl_->autograd.grad = grad.impl_ptr();
}

bool Tensor::is_leaf() const {
  return checked().autograd.grad_fn == nullptr;
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  return checked().autograd.grad_fn;
}

AutogradMeta& Tensor::autograd_meta() const {
  checked();
  return impl_->autograd;
}

std::string describe(const Tensor& tensor) {
  if (!tensor.defined()) return "undefined";
  return concat(tensor.shape(), " ", dtype_name(tensor.dtype()), " ", tensor.device().str());
}

void check_same_dtype_device(const char* op, const Tensor& a, const Tensor& b) {
  SALIENCY_CHECK(a.dtype() == b.dtype() && a.device() == b.device(), op,
                 ": operands differ in dtype or device: ", describe(a), " vs ", describe(b));
}

void check_cpu(const char* op, const Tensor& tensor) {
  SALIENCY_CHECK(tensor.device().is_cpu(), op, ": no ", tensor.device().str(), " kernel (tensor ",
                 describe(tensor), "); run it on the CPU");
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  if (!tensor.defined()) return out << "Tensor(undefined)";
  out << "Tensor(" << describe(tensor);
  if (tensor.requires_grad()) out << ", requires_grad";
  out << ")\n";
  const std::vector<double> values = tensor.to_vector();
  const int64_t last = tensor.rank() ? tensor.size(-1) : 1;
  constexpr size_t kMaxShown = 64;
  std::ostringstream text;
  text << std::setprecision(5);
  for (size_t i = 0; i < values.size() && i < kMaxShown; ++i) {
    text << values[i] << ((i + 1) % last == 0 ? "\n" : " ");
  }
  if (values.size() > kMaxShown) text << "... (" << values.size() - kMaxShown << " more)\n";
  return out << text.str();
}

}  // namespace saliency
