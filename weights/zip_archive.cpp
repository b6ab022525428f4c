#include "weights/zip_archive.h"

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace saliency::weights {
namespace {

constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kCentralDirectoryEntry = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;

uint32_t le32(const unsigned char* p) {
  return p[0] | p[1] << 8 | p[2] << 16 | uint32_t(p[3]) << 24;
}
uint16_t le16(const unsigned char* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}

}  // namespace

ZipArchive::ZipArchive(InputFile& file) {
  const std::string& path = file.path();
  // The end record is in the last 22 bytes plus up to 64 KiB of comment.
  const uint64_t tail_size = std::min<uint64_t>(file.size(), 22 + 65535);
  if (tail_size < 22) throw InvalidArgument(concat(path, ": too short for a zip archive"));
  std::vector<unsigned char> tail(tail_size);
  file.read_at(file.size() - tail_size, tail.data(), tail_size);
  int64_t end = -1;
  for (int64_t i = int64_t(tail_size) - 22; i >= 0; --i)
    if (le32(&tail[i]) == kEndOfCentralDirectory) {
      end = i;
      break;
    }
  if (end < 0) throw InvalidArgument(concat(path, ": no zip end-of-directory record"));
  const uint16_t count = le16(&tail[end + 10]);
  const uint32_t directory_size = le32(&tail[end + 12]);
  const uint32_t directory_offset = le32(&tail[end + 16]);
  if (directory_offset == 0xFFFFFFFFu || count == 0xFFFF)
    throw InvalidArgument(concat(path, ": zip64 archives are not supported"));
  if (uint64_t(directory_offset) + directory_size > file.size())
    throw InvalidArgument(concat(path, ": zip directory lies outside the file"));
  std::vector<unsigned char> directory(directory_size);
  file.read_at(directory_offset, directory.data(), directory_size);

  size_t at = 0;
  for (uint16_t i = 0; i < count; ++i) {
    if (at + 46 > directory.size() || le32(&directory[at]) != kCentralDirectoryEntry)
      throw InvalidArgument(concat(path, ": corrupt zip directory (entry ", i, ")"));
    const uint16_t method = le16(&directory[at + 10]);
    const uint32_t compressed = le32(&directory[at + 20]), size = le32(&directory[at + 24]);
    const uint16_t name_length = le16(&directory[at + 28]), extra = le16(&directory[at + 30]),
                   comment = le16(&directory[at + 32]);
    const uint32_t local_offset = le32(&directory[at + 42]);
    if (at + 46 + name_length > directory.size())
      throw InvalidArgument(concat(path, ": corrupt zip directory (entry ", i, ")"));
    const std::string name(reinterpret_cast<const char*>(&directory[at + 46]), name_length);
    if (method != 0 || compressed != size)
      throw InvalidArgument(concat(path, ": zip entry '", name,
                                   "' is compressed; PyTorch checkpoints store entries as is"));
    unsigned char local[30];
    file.read_at(local_offset, local, 30);
    if (le32(local) != kLocalHeader)
      throw InvalidArgument(concat(path, ": zip entry '", name, "' has no local header"));
    const uint64_t data_offset = uint64_t(local_offset) + 30 + le16(local + 26) + le16(local + 28);
    if (data_offset > file.size() || size > file.size() - data_offset)
      throw InvalidArgument(concat(path, ": zip entry '", name, "' runs past the end of the file"));
    entries_[name] = {data_offset, size};
    at += 46 + name_length + extra + comment;
  }
}

const ZipArchive::Entry* ZipArchive::find_suffix(const std::string& suffix) const {
  for (const auto& [name, entry] : entries_) {
    if (name.size() <= suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    if (name[name.size() - suffix.size() - 1] == '/') return &entry;
  }
  return nullptr;
}

}  // namespace saliency::weights
