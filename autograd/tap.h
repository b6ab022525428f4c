#pragma once
// Taps keep the value and the gradient of an intermediate tensor, e.g. the activations of
// ResNet's layer4 and their gradient for Grad-CAM. A tapped tensor joins the graph even when
// nothing before it requires grad, and a backward pass that only needs taps stops at them.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "autograd/node.h"

namespace saliency::autograd {

class Tap {
 public:
  explicit Tap(std::string name) : name_(std::move(name)) {}
  const std::string& name() const { return name_; }
  const Tensor& value() const { return value_; }  // the tensor as the forward pass made it
  // The tapped tensor as it sits in the graph (for autograd::grad); undefined without grad mode.
  const Tensor& tensor() const { return tensor_; }
  const Tensor& grad() const { return grad_; }  // undefined until a backward pass reaches it
  bool has_value() const { return value_.defined(); }
  bool has_grad() const { return grad_.defined(); }

 private:
  friend class TapNode;
  friend Tensor tap(const Tensor& input, const std::shared_ptr<Tap>& record);
  std::string name_;
  Tensor value_, grad_, tensor_;
};

// Identity that records `input` in `record` and, during backward, the gradient arriving at
// the returned tensor. Without grad mode it only records the value.
Tensor tap(const Tensor& input, const std::shared_ptr<Tap>& record);

// Named tap points. Models call tap_point("layer4", x) at the output of each named layer; it
// returns x unchanged unless an active TapScope asked for that name. Scopes nest. A record
// holds the latest tensor that passed its point (a second forward pass replaces the first,
// and clears the gradient until a backward pass reaches the new one).
class TapScope {
 public:
  explicit TapScope(const std::vector<std::string>& names);
  ~TapScope();
  TapScope(const TapScope&) = delete;
  TapScope& operator=(const TapScope&) = delete;

  // The record for a requested name; throws when the name was not requested.
  const Tap& operator[](std::string_view name) const;
  std::shared_ptr<Tap> find(std::string_view name) const;  // null when not requested

 private:
  friend Tensor tap_point(std::string_view name, const Tensor& input);
  friend bool tap_requested(std::string_view name);
  std::vector<std::shared_ptr<Tap>> taps_;
  TapScope* outer_;
};

Tensor tap_point(std::string_view name, const Tensor& input);
// Whether an active scope asked for `name`: lets a model build a tap-only view (e.g. a ViT's
// tokens as a feature map) just when someone will look at it.
bool tap_requested(std::string_view name);

class TapNode final : public Node {
 public:
  TapNode(std::vector<Edge> inputs, const std::shared_ptr<Tap>& record)
      : Node(OpKind::Tap, std::move(inputs)), record_(record) {}
  TensorList default_backward(const Tensor& grad_output, const InputMask&) const override {
    return {grad_output};
  }
  bool observes_gradient() const override { return !record_.expired(); }
  void observe_gradient(const Tensor& grad) override;

 private:
  std::weak_ptr<Tap> record_;  // the caller owns the record; a dropped record stops observing
};

}  // namespace saliency::autograd
