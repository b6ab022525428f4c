#pragma once
// Module: a layer or a network with named parameters, buffers and children. Names join with
// dots into the keys of a state dict, equal to PyTorch's (`layer3.4.conv2.weight`), so weights
// converted from torchvision load by name.
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace saliency::nn {

using StateDict = std::map<std::string, Tensor>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Every parameter / buffer with its full dotted name, in registration order.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  StateDict state_dict() const;  // parameters and buffers; tensors share storage

  // Copies values in by name. The key set must equal the module's (keys named in
  // `ignored_suffixes`, such as PyTorch's ".num_batches_tracked", are skipped); shapes must
  // match. Errors name `source` and the key.
  void load_state_dict(const StateDict& tensors, std::string_view source = "state dict",
                       const std::vector<std::string>& ignored_suffixes = {".num_batches_tracked"});

  // Moves every parameter and buffer to `device`, in place (the layers' handles follow).
  void to(Device device);

  // Marks every parameter as requiring grad or not (saliency needs input gradients only).
  void set_requires_grad(bool enabled);
  void train(bool enabled = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // The child registered under `name` (dotted paths allowed); throws when absent.
  Module& child(std::string_view name) const;

 protected:
  // Return a handle to the registered tensor (same storage and autograd state).
  Tensor register_parameter(std::string name, Tensor value);
  Tensor register_buffer(std::string name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    children_.emplace_back(std::move(name), module);
    return module;
  }

 private:
  void collect(const std::string& prefix, bool parameters,
               std::vector<std::pair<std::string, Tensor>>& out) const;
  std::vector<std::pair<std::string, Tensor>> parameters_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = false;
};

}  // namespace saliency::nn
