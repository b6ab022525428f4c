#include "nn/module.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace saliency::nn {

Tensor Module::register_parameter(std::string name, Tensor value) {
  parameters_.emplace_back(std::move(name), std::move(value));
  return parameters_.back().second;
}

Tensor Module::register_buffer(std::string name, Tensor value) {
  buffers_.emplace_back(std::move(name), std::move(value));
  return buffers_.back().second;
}

void Module::collect(const std::string& prefix, bool parameters,
                     std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, tensor] : parameters ? parameters_ : buffers_)
    out.emplace_back(prefix + name, tensor);
  for (const auto& [name, module] : children_)
    module->collect(prefix + name + ".", parameters, out);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", true, out);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect("", false, out);
  return out;
}

StateDict Module::state_dict() const {
  StateDict dict;
  for (auto& [name, tensor] : named_parameters()) dict.emplace(name, tensor);
  for (auto& [name, tensor] : named_buffers()) dict.emplace(name, tensor);
  return dict;
}

void Module::load_state_dict(const StateDict& tensors, std::string_view source,
                             const std::vector<std::string>& ignored_suffixes) {
  auto ignored = [&](const std::string& key) {
    return std::any_of(ignored_suffixes.begin(), ignored_suffixes.end(), [&](const auto& suffix) {
      return key.size() >= suffix.size() &&
             key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
    });
  };
  StateDict own = state_dict();
  for (const auto& [key, tensor] : tensors) {
    if (ignored(key)) continue;
    auto it = own.find(key);
    SALIENCY_CHECK(it != own.end(), source, ": unexpected key '", key, "' (not in the model)");
    SALIENCY_CHECK(it->second.shape() == tensor.shape(), source, ": key '", key, "' has shape ",
                   tensor.shape(), ", the model expects ", it->second.shape());
  }
  for (const auto& [key, tensor] : own)
    SALIENCY_CHECK(tensors.count(key), source, ": missing key '", key, "' (shape ", tensor.shape(),
                   ")");
  for (auto& [key, tensor] : own) tensor.copy_from(tensors.at(key));
}

void Module::to(Device device) {
  for (auto& [name, tensor] : named_parameters()) tensor.move_to(device);
  for (auto& [name, tensor] : named_buffers()) tensor.move_to(device);
}

void Module::set_requires_grad(bool enabled) {
  for (auto& [name, tensor] : named_parameters()) tensor.set_requires_grad(enabled);
}

void Module::train(bool enabled) {
  training_ = enabled;
  for (auto& [name, module] : children_) module->train(enabled);
}

Module& Module::child(std::string_view name) const {
  const size_t dot = name.find('.');
  const std::string_view head = name.substr(0, dot);
  for (const auto& [child_name, module] : children_) {
    if (child_name != head) continue;
    return dot == std::string_view::npos ? *module : module->child(name.substr(dot + 1));
  }
  throw InvalidArgument(concat("no submodule named '", name, "'"));
}

}  // namespace saliency::nn
