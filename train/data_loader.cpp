#include "train/data_loader.h"

#include <numeric>

#include "core/error.h"
#include "core/generator.h"
#include "kernels/cpu/parallel.h"

namespace saliency::train {

DataLoader::DataLoader(const Dataset& dataset, const DataLoaderOptions& options)
    : dataset_(dataset), options_(options) {
  SALIENCY_CHECK(options.batch_size >= 1, "data loader: batch size must be >= 1, got ",
                 options.batch_size);
  SALIENCY_CHECK(dataset.size() >= 1, "data loader: the dataset is empty");
  start_epoch(0);
}

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = dataset_.size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void DataLoader::start_epoch(int64_t epoch) {
  order_.resize(static_cast<size_t>(dataset_.size()));
  std::iota(order_.begin(), order_.end(), 0);
  if (options_.shuffle) {
    // Fisher-Yates with our own generator: the same order on every platform.
    Generator generator(options_.seed * 0x9E3779B97F4A7C15ull + uint64_t(epoch) + 1);
    for (size_t i = order_.size() - 1; i > 0; --i)
      std::swap(order_[i], order_[generator.next_u64() % (i + 1)]);
  }
  position_ = 0;
}

bool DataLoader::next(Batch& batch) {
  const int64_t remaining = dataset_.size() - position_;
  const int64_t count = std::min(options_.batch_size, remaining);
  if (count <= 0 || (options_.drop_last && count < options_.batch_size)) return false;
  const Shape sample_shape = dataset_.sample_shape();
  std::vector<int64_t> dims{count};
  for (int64_t d : sample_shape.dims()) dims.push_back(d);
  batch.inputs = Tensor::empty(Shape(dims), DType::Float32);
  batch.labels.assign(static_cast<size_t>(count), 0);
  batch.indices.assign(order_.begin() + position_, order_.begin() + position_ + count);
  const int64_t sample_elements = sample_shape.numel();
  float* data = batch.inputs.data<float>();
  kernels::cpu::parallel_for(0, count, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      batch.labels[i] = dataset_.get(batch.indices[i], data + i * sample_elements);
  });
  position_ += count;
  return true;
}

}  // namespace saliency::train
