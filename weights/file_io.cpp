#include "weights/file_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"

namespace saliency::weights {

uint64_t tensor_bytes(const std::string& context, const Shape& shape, DType dtype) {
  uint64_t count = 1;
  for (int64_t d : shape.dims())
    if (__builtin_mul_overflow(count, uint64_t(d), &count))
      throw InvalidArgument(concat(context, ": shape ", shape, " is too large"));
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, uint64_t(element_size(dtype)), &bytes) ||
      bytes > uint64_t(INT64_MAX))
    throw InvalidArgument(concat(context, ": shape ", shape, " is too large"));
  return bytes;
}

InputFile::InputFile(const std::string& path) : path_(path) {
  std::error_code error;
  if (std::filesystem::is_directory(path, error))
    throw InvalidArgument(concat(path, ": is a directory, not a file"));
  stream_.open(path, std::ios::binary);
  if (!stream_) throw InvalidArgument(concat(path, ": cannot open (", std::strerror(errno), ")"));
  stream_.seekg(0, std::ios::end);
  size_ = static_cast<uint64_t>(stream_.tellg());
}

void InputFile::read_at(uint64_t offset, void* destination, uint64_t bytes) {
  if (offset > size_ || bytes > size_ - offset)
    throw InvalidArgument(concat(path_, ": unexpected end of file (", bytes, " bytes at offset ",
                                 offset, " of ", size_, ")"));
  stream_.seekg(static_cast<std::streamoff>(offset));
  stream_.read(static_cast<char*>(destination), static_cast<std::streamsize>(bytes));
  if (!stream_) throw Error(concat(path_, ": read error at offset ", offset));
}

OutputFile::OutputFile(const std::string& path) : path_(path), partial_path_(path + ".partial") {
  stream_.open(partial_path_, std::ios::binary | std::ios::trunc);
  if (!stream_) throw InvalidArgument(concat(path, ": cannot write (", std::strerror(errno), ")"));
}

OutputFile::~OutputFile() {
  if (committed_) return;
  stream_.close();
  std::remove(partial_path_.c_str());
}

void OutputFile::write(const void* data, uint64_t bytes) {
  stream_.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!stream_) throw Error(concat(path_, ": write failed (disk full?)"));
}

void OutputFile::commit() {
  stream_.close();
  if (!stream_) throw Error(concat(path_, ": write failed while closing"));
  std::error_code error;
  std::filesystem::rename(partial_path_, path_, error);
  if (error)
    throw Error(concat(path_, ": cannot move the written file into place (", error.message(), ")"));
  committed_ = true;
}

}  // namespace saliency::weights
