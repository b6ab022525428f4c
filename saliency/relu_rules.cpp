#include "saliency/relu_rules.h"

#include "autograd/ops/elementwise.h"

namespace saliency {

using autograd::InputMask;
using autograd::Node;
using autograd::OpKind;
using autograd::TensorList;

autograd::RuleSet guided_backprop_rules() {
  autograd::RuleSet rules("guided-backprop");
  rules.set(OpKind::Relu, [](const Node& node, const Tensor& grad_output, const InputMask&) {
    const Tensor& output = autograd::node_as<autograd::ReluNode>(node).output();
    return TensorList{relu_backward_guided(grad_output, output)};
  });
  return rules;
}

autograd::RuleSet deconvnet_rules() {
  autograd::RuleSet rules("deconvnet");
  rules.set(OpKind::Relu, [](const Node&, const Tensor& grad_output, const InputMask&) {
    return TensorList{relu_backward_deconvnet(grad_output)};
  });
  return rules;
}

}  // namespace saliency
