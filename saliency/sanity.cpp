#include "saliency/sanity.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "autograd/ops.h"
#include "core/error.h"
#include "core/factory.h"
#include "core/generator.h"
#include "saliency/sensitivity.h"

namespace saliency {
namespace {

bool in_layer(const std::string& name, const std::string& prefix) {
  return name.starts_with(prefix + ".");
}

// The parameters a randomization step redraws: weights of rank >= 2 (convolution, linear,
// attention's in_proj_weight) and the biases beside them.
std::vector<std::pair<std::string, Tensor>> layer_parameters(const nn::Module& model,
                                                             const std::string& prefix) {
  std::map<std::string, Tensor> parameters;
  for (auto& [name, tensor] : model.named_parameters()) parameters[name] = tensor;
  std::vector<std::pair<std::string, Tensor>> chosen;
  for (auto& [name, tensor] : parameters) {
    if (!in_layer(name, prefix)) continue;
    const bool weight = name.ends_with("weight") && tensor.rank() >= 2;
    const auto sibling = name.ends_with("bias")
                             ? parameters.find(name.substr(0, name.size() - 4) + "weight")
                             : parameters.end();
    const bool bias = sibling != parameters.end() && sibling->second.rank() >= 2;
    if (weight || bias) chosen.emplace_back(name, tensor);
  }
  return chosen;
}

double standard_deviation(const std::vector<double>& values) {
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / double(values.size());
  double sum = 0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return std::sqrt(sum / double(values.size()));
}

void redraw(Tensor& tensor, Generator& generator) {
  const double sd = standard_deviation(tensor.to_vector());
  tensor.copy_from(mul_scalar(randn(tensor.shape(), generator, tensor.dtype()), sd));
}

std::vector<double> ranks(const std::vector<float>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> rank(values.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double average = (double(i) + double(j)) / 2.0;
    for (size_t k = i; k <= j; ++k) rank[order[k]] = average;
    i = j + 1;
  }
  return rank;
}

std::vector<float> absolute(std::vector<float> values) {
  for (float& v : values) v = std::abs(v);
  return values;
}

// Restores the saved parameter values when the cascade ends, however it ends.
class ParameterBackup {
 public:
  explicit ParameterBackup(const nn::Module& model) {
    for (auto& [name, tensor] : model.named_parameters())
      saved_.emplace_back(tensor, tensor.clone());
  }
  ~ParameterBackup() {
    for (auto& [live, copy] : saved_) live.copy_from(copy);
  }
  ParameterBackup(const ParameterBackup&) = delete;
  ParameterBackup& operator=(const ParameterBackup&) = delete;

 private:
  std::vector<std::pair<Tensor, Tensor>> saved_;
};

}  // namespace

double spearman_correlation(const std::vector<float>& a, const std::vector<float>& b) {
  return pearson_correlation(ranks(a), ranks(b));
}

std::vector<RandomizationStep> cascading_randomization(nn::Module& model,
                                                       const Classifier& classifier,
                                                       const std::vector<std::string>& cascade,
                                                       const MapFunction& explain_map,
                                                       uint64_t seed) {
  SALIENCY_CHECK(!cascade.empty(), "cascading randomization: no layers named");
  const std::vector<float> original = explain_map(classifier);
  const std::vector<float> original_abs = absolute(original);
  ParameterBackup backup(model);
  Generator generator(seed);
  std::vector<RandomizationStep> steps;
  for (const std::string& layer : cascade) {
    auto parameters = layer_parameters(model, layer);
    SALIENCY_CHECK(!parameters.empty(), "cascading randomization: no convolution or linear ",
                   "parameters under '", layer, "'");
    for (auto& [name, tensor] : parameters) redraw(tensor, generator);
    const std::vector<float> map = explain_map(classifier);
    steps.push_back({layer, spearman_correlation(original, map),
                     spearman_correlation(original_abs, absolute(map))});
  }
  return steps;
}

}  // namespace saliency
