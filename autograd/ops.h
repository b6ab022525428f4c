#pragma once
// Every differentiable op, for code that builds models and methods. Each op checks its
// arguments (errors name the op and the shapes), runs its kernel, and records a graph node
// when grad mode is on and an input requires grad.
#include "autograd/ops/batch_norm.h"
#include "autograd/ops/blur.h"
#include "autograd/ops/conv2d.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/layer_norm.h"
#include "autograd/ops/linear.h"
#include "autograd/ops/loss.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/pooling.h"
#include "autograd/ops/random.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/resize.h"
#include "autograd/ops/shape_ops.h"
