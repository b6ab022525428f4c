// TraceScope: what the forward and backward passes record, and nothing outside a scope.
#include <gtest/gtest.h>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "autograd/trace.h"
#include "core/factory.h"
#include "core/generator.h"
#include "gradcheck.h"
#include "saliency/demo_model.h"
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

// A trace of two graphs, the first released before the second is recorded (as IG through a
// classifier's cut: the path points' graph, then the first layer's): the second's nodes are
// known by their own serials (a new node may sit at a released one's address: the CLI's trace of
// IG on a photo once named a path point's op as the stem's input), and the first backward's
// FLOPs are not the next record's.
TEST(Trace, LaterGraphsGetTheirOwnInputsAndFlops) {
  const Tensor w = from_vector({2, 4}, {1, 1, 1, 1, 0, 1, 0, 1});
  std::vector<autograd::TraceRecord> records;
  {
    autograd::TraceScope trace;
    for (int graph = 0; graph < 2; ++graph) {
      Tensor x = from_vector({1, 4}, {1.0, -2.0, 3.0, -4.0}).set_requires_grad(true);
      const Tensor y = linear(relu(x), w);
      autograd::grad(y, {x}, from_vector({1, 2}, {1.0, 1.0}));
    }
    records = trace.records();
  }
  ASSERT_EQ(records.size(), 4u);
  for (size_t graph = 0; graph < 2; ++graph) {
    const autograd::TraceRecord& relu_record = records[2 * graph];
    const autograd::TraceRecord& linear_record = records[2 * graph + 1];
    EXPECT_EQ(relu_record.op, "relu");
    EXPECT_EQ(relu_record.inputs, (std::vector<int64_t>{-1})) << "graph " << graph;
    EXPECT_EQ(relu_record.flops, 0.0) << "graph " << graph;
    EXPECT_EQ(linear_record.inputs, (std::vector<int64_t>{int64_t(2 * graph)}));
    EXPECT_EQ(linear_record.flops, 2.0 * 4 * 2);
    EXPECT_TRUE(linear_record.backward_ran);
  }
}

// The same through a method: IG on the shapes model cut after its stem records the path points'
// graph, then the stem convolution of the single backward through it, whose input is the image
// (a leaf) and whose FLOPs are its own forward's (the ones before it were the backward's).
TEST(Trace, IntegratedGradientsThroughTheCutEndsInTheStemsBackward) {
  const LoadedModel model = load_shapes_model();
  prepare_for(model, {Method::IntegratedGradients});
  const Classifier classifier = classifier_on(*model.network, Device::cpu());
  ASSERT_NE(classifier.split(), nullptr);
  Generator generator(3);
  const Tensor image = randn({1, 3, 32, 32}, generator);
  MethodOptions options;
  options.integrated_gradients.steps = 4;
  options.batch_size = 4;
  std::vector<autograd::TraceRecord> records;
  {
    autograd::TraceScope trace;
    explain(classifier, image, Method::IntegratedGradients, 0, options);
    records = trace.records();
  }
  ASSERT_GE(records.size(), 2u);
  EXPECT_EQ(records.front().op, "relu");  // the stem's ReLU on the 4 path points
  EXPECT_EQ(records.front().output_shape[0], 4);
  const autograd::TraceRecord& stem = records.back();
  EXPECT_EQ(stem.op, "conv2d");
  EXPECT_EQ(stem.output_shape[0], 1);
  EXPECT_EQ(stem.inputs, (std::vector<int64_t>{-1}));
  const Shape kernel = model.network->state_dict().at("conv1.weight").shape();  // [16, 3, 7, 7]
  const double taps = double(kernel[1] * kernel[2] * kernel[3]);
  EXPECT_EQ(stem.flops, 2.0 * double(stem.output_shape.numel()) * taps);
  EXPECT_TRUE(stem.backward_ran);
}

}  // namespace
}  // namespace saliency
