#pragma once
// Reverse-mode differentiation over the recorded graph: a topological order from the output,
// then one walk that hands each node the sum of the gradients of its consumers.
//
// Only what is needed runs: a node is visited only if a target lies below it (a leaf that
// requires grad, a tap, or an input passed to grad()), and a node computes only the input
// gradients that lead to a target. So frozen weights cost nothing, and a pass that only wants
// layer4's gradient stops at layer4.
//
// One fusion: when the last consumer of a ReLU's output to run is a convolution (inside a ResNet
// block the only one; at a block's end the next block's first conv, after its add), the
// convolution stores its input gradient plus what the other consumers sent, through the ReLU's
// backward, and the ReLU node is passed over (on the CPU, when neither op's backward is replaced
// by a rule, the ReLU's gradient is not asked for or observed, and no trace is recording): the
// same values, without the accumulation's and the ReLU's passes over the gradient.
#include "autograd/node.h"

namespace saliency::autograd {

struct BackwardOptions {
  bool retain_graph = false;  // keep saved tensors for another backward through this graph
};

struct BackwardReport {
  size_t nodes_run = 0;     // nodes whose backward (or gradient sink) ran
  size_t nodes_pruned = 0;  // recorded nodes skipped because no target lies below them
  size_t relus_fused = 0;   // ReLUs whose backward ran in their consumer's (counted as run)
};

// Accumulates d<output, seed>/d leaf into leaf.grad() for every leaf that requires grad, and
// gives every live tap its gradient. seed defaults to 1 for a one-element output.
BackwardReport backward(const Tensor& output, const Tensor& seed = Tensor(),
                        const BackwardOptions& options = {});

// The gradients of <output, seed> with respect to `inputs` (leaves or intermediate tensors),
// returned instead of accumulated; taps reached on the way still observe theirs. An input the
// output does not depend on gets an undefined tensor.
TensorList grad(const Tensor& output, const TensorList& inputs, const Tensor& seed = Tensor(),
                const BackwardOptions& options = {});

}  // namespace saliency::autograd
