#pragma once
// A reader for the zip container PyTorch's torch.save writes: uncompressed ("stored") entries,
// located through the central directory. Only what checkpoints use; anything else is refused.
#include <cstdint>
#include <map>
#include <string>

#include "weights/file_io.h"

namespace saliency::weights {

class ZipArchive {
 public:
  struct Entry {
    uint64_t data_offset = 0, size = 0;
  };
  // Reads the directory; throws InvalidArgument naming the file when it is not a usable zip.
  explicit ZipArchive(InputFile& file);
  // The entry whose name ends with `suffix` after a '/' (PyTorch prefixes an archive name).
  const Entry* find_suffix(const std::string& suffix) const;
  const std::map<std::string, Entry>& entries() const { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
};

}  // namespace saliency::weights
