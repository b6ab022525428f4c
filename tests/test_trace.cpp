// TraceScope: what the forward and backward passes record, and nothing outside a scope.
#include <gtest/gtest.h>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "autograd/trace.h"
#include "core/factory.h"
#include "gradcheck.h"
#include "saliency/relu_rules.h"

namespace saliency {
namespace {

TEST(Trace, RecordsOpsShapesSavedBytesRulesAndGradientNorms) {
  Tensor x = from_vector({1, 4}, {1.0, -2.0, 3.0, -4.0}).set_requires_grad(true);
  const Tensor w = from_vector({2, 4}, {1, 1, 1, 1, 0, 1, 0, 1});
  std::vector<autograd::TraceRecord> records;
  {
    autograd::TraceScope trace;
    const Tensor y = linear(relu(x), w);  // relu: [1, 0, 3, 0] -> linear: [4, 0]
    const autograd::RuleSet rules = guided_backprop_rules();
    autograd::RuleScope scope(rules);
    autograd::grad(y, {x}, from_vector({1, 2}, {-1.0, 0.0}));
    records = trace.records();
  }
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].op, "relu");
  EXPECT_EQ(records[0].inputs, (std::vector<int64_t>{-1}));  // the leaf
  EXPECT_EQ(records[0].saved_bytes, 16);                     // its float32 output
  EXPECT_EQ(records[1].op, "linear");
  EXPECT_EQ(records[1].output_shape, Shape({1, 2}));
  EXPECT_EQ(records[1].inputs, (std::vector<int64_t>{0}));
  EXPECT_EQ(records[1].flops, 2.0 * 4 * 2);
  EXPECT_EQ(records[1].rule, "default");
  EXPECT_EQ(records[0].rule, "guided-backprop");
  // Gradient into relu's output: w^T [-1, 0] = [-1, -1, -1, -1] (norm 2). The default rule
  // would pass [-1, 0, -1, 0] (norm sqrt 2); guided backprop drops negative gradients: 0.
  EXPECT_NEAR(records[0].grad_output_norm, 2.0, 1e-6);
  EXPECT_NEAR(records[0].grad_input_norm, 0.0, 1e-12);
  EXPECT_NEAR(records[1].grad_output_norm, 1.0, 1e-6);
  EXPECT_TRUE(records[1].backward_ran);
}

TEST(Trace, NothingIsRecordedOutsideAScope) {
  Tensor x = from_vector({1, 2}, {1.0, 2.0}).set_requires_grad(true);
  {
    autograd::TraceScope trace;
    EXPECT_TRUE(autograd::TraceScope::active());
  }
  EXPECT_FALSE(autograd::TraceScope::active());
  autograd::TraceScope later;
  const Tensor y = sum(relu(x));  // recorded: two ops
  autograd::backward(y);
  EXPECT_EQ(later.records().size(), 2u);
}

}  // namespace
}  // namespace saliency
