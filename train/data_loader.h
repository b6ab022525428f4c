#pragma once
// Datasets and the loader that feeds training: a fixed set of indexed samples, visited in a
// seeded random order each epoch, in batches assembled in parallel.
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace saliency::train {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  virtual Shape sample_shape() const = 0;  // e.g. [3, 64, 64]
  // Writes sample `index` (float32, sample_shape) to `destination` and returns its label.
  // Called from several threads at once: it must not modify the dataset.
  virtual int64_t get(int64_t index, float* destination) const = 0;
};

struct Batch {
  Tensor inputs;                 // [n, sample_shape...]
  std::vector<int64_t> labels;   // n labels
  std::vector<int64_t> indices;  // which samples
};

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  bool drop_last = false;  // skip the last incomplete batch (keeps BatchNorm statistics sane)
  uint64_t seed = 0;       // the order of epoch e depends on (seed, e) only
};

class DataLoader {
 public:
  DataLoader(const Dataset& dataset, const DataLoaderOptions& options);
  int64_t batches_per_epoch() const;
  // Starts epoch `epoch` (its order is reproducible regardless of what ran before).
  void start_epoch(int64_t epoch);
  // The next batch of the epoch; false when the epoch is over.
  bool next(Batch& batch);
  const std::vector<int64_t>& order() const { return order_; }

 private:
  const Dataset& dataset_;
  DataLoaderOptions options_;
  std::vector<int64_t> order_;
  int64_t position_ = 0;
};

}  // namespace saliency::train
