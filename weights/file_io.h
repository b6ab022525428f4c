#pragma once
// Small file helpers with errors that name the file. OutputFile writes to "<path>.partial" and
// renames on commit(), so a failed write never leaves a truncated file under the real name.
#include <cstdint>
#include <fstream>
#include <string>

#include "core/dtype.h"
#include "core/shape.h"

namespace saliency::weights {

// Bytes a tensor of this shape and dtype occupies; throws InvalidArgument starting with
// `context` (the file, the key) when the count does not fit in 64 bits.
uint64_t tensor_bytes(const std::string& context, const Shape& shape, DType dtype);

class InputFile {
 public:
  explicit InputFile(const std::string& path);
  uint64_t size() const { return size_; }
  // Reads exactly `bytes` bytes at `offset`; throws naming the file when it cannot.
  void read_at(uint64_t offset, void* destination, uint64_t bytes);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream stream_;
  uint64_t size_ = 0;
};

class OutputFile {
 public:
  explicit OutputFile(const std::string& path);
  ~OutputFile();
  void write(const void* data, uint64_t bytes);
  void commit();  // flush, close and move into place

 private:
  std::string path_, partial_path_;
  std::ofstream stream_;
  bool committed_ = false;
};

}  // namespace saliency::weights
