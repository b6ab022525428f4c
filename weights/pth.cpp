// PyTorch checkpoints (.pth / .pt) without Python: the pickle subset torch.save uses for a
// state dict, over either container:
//  - zip (PyTorch >= 1.6): "<name>/data.pkl" plus one entry "<name>/data/<key>" per storage;
//  - legacy: a magic-number pickle, a protocol pickle, a system-info pickle, the state dict
//    pickle, a pickle listing storage keys, then each storage as int64 element count + data.
// Storages arrive through persistent ids ('storage', torch.FloatStorage, key, location, numel
// [, view metadata]); tensors through torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, ...) and _rebuild_parameter. Every count is checked against the file before memory
// is allocated, and anything outside the subset is refused with the opcode and offset named.
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "core/error.h"
#include "weights/file_io.h"
#include "weights/tensor_file.h"
#include "weights/zip_archive.h"

namespace saliency::weights {
namespace {

struct Storage {
  std::string key;
  std::optional<DType> dtype;  // unset: a dtype we do not load (e.g. LongStorage)
  std::string type_name;
  int64_t numel = 0;
  Tensor data;  // flat [numel]; filled when the container provides the bytes
};

struct TensorRef {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;
  std::vector<int64_t> size, stride;
};

struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Global {
  std::string module, name;
};
struct Items {
  std::vector<ValuePtr> values;
};
struct DictItems {
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;
};
struct Value {
  std::variant<std::monostate, bool, int64_t, double, std::string, Items /*tuple*/,
               std::vector<ValuePtr> /*list*/, DictItems, Global, std::shared_ptr<Storage>,
               TensorRef>
      data;
};

// Whether `target` is reachable from `root` (root included). Lists and dicts are filled after
// they are made (APPEND, SETITEM), so a pickle can put a container inside itself; state dicts
// never do, and a cycle of shared pointers would never be freed. Iterative: nesting is bounded
// only by the file.
bool reaches(const ValuePtr& root, const Value* target) {
  std::vector<const Value*> pending{root.get()};
  std::unordered_set<const Value*> seen;
  while (!pending.empty()) {
    const Value* value = pending.back();
    pending.pop_back();
    if (value == target) return true;
    if (!seen.insert(value).second) continue;
    if (const auto* tuple = std::get_if<Items>(&value->data))
      for (const ValuePtr& item : tuple->values) pending.push_back(item.get());
    if (const auto* list = std::get_if<std::vector<ValuePtr>>(&value->data))
      for (const ValuePtr& item : *list) pending.push_back(item.get());
    if (const auto* dict = std::get_if<DictItems>(&value->data))
      for (const auto& [key, item] : dict->entries) {
        pending.push_back(key.get());
        pending.push_back(item.get());
      }
  }
  return false;
}

ValuePtr make(auto&& v) {
  auto value = std::make_shared<Value>();
  value->data = std::forward<decltype(v)>(v);
  return value;
}

// Resolves a persistent id into a storage; the container decides where its bytes come from.
using StorageResolver = std::function<std::shared_ptr<Storage>(
    const std::string& key, const std::string& type_name, int64_t numel)>;

// Runs one pickle read from `file` starting at `offset`, never past `end`.
class Unpickler {
 public:
  Unpickler(InputFile& file, uint64_t offset, uint64_t end, StorageResolver resolve)
      : file_(file),
        path_(file.path()),
        position_(offset),
        end_(end),
        resolve_(std::move(resolve)) {}

  ValuePtr run();
  uint64_t position() const { return position_; }  // just past STOP after run()

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InvalidArgument(concat(path_, ": ", what, " (pickle offset ", position_, ")"));
  }
  void reject_cycles(const std::vector<ValuePtr>& items, const Value* container) const {
    for (const ValuePtr& item : items)
      if (reaches(item, container)) fail("pickle puts a container inside itself");
  }
  // The next `count` bytes (valid until the next call); strings are bounded by the file.
  const unsigned char* take(uint64_t count) {
    if (count > end_ - position_) fail("pickle data ends early");
    if (position_ < buffer_start_ || position_ + count > buffer_start_ + buffer_.size()) {
      buffer_.resize(std::max<uint64_t>(count, std::min<uint64_t>(kChunk, end_ - position_)));
      file_.read_at(position_, buffer_.data(), buffer_.size());
      buffer_start_ = position_;
    }
    const unsigned char* p = &buffer_[position_ - buffer_start_];
    position_ += count;
    return p;
  }
  uint64_t little_endian(size_t count) {
    const unsigned char* p = take(count);
    uint64_t v = 0;
    for (size_t i = count; i-- > 0;) v = v << 8 | p[i];
    return v;
  }
  std::string line() {
    std::string text;
    for (char c; (c = static_cast<char>(*take(1))) != '\n';) {
      if (text.size() > 4096) fail("pickle GLOBAL name too long");
      text += c;
    }
    return text;
  }
  ValuePtr pop() {
    if (stack_.size() <= (marks_.empty() ? 0 : marks_.back())) fail("pickle stack underflow");
    ValuePtr v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<ValuePtr> pop_to_mark() {
    if (marks_.empty()) fail("pickle MARK missing");
    std::vector<ValuePtr> items(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()),
                                stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void memo_put(uint64_t index) {
    if (stack_.empty()) fail("pickle memo store with an empty stack");
    memo_[index] = stack_.back();
  }
  void memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail(concat("pickle memo entry ", index, " is missing"));
    stack_.push_back(it->second);
  }
  ValuePtr call(const ValuePtr& callable, const ValuePtr& arguments);
  ValuePtr persistent_load(const ValuePtr& id);

  static constexpr uint64_t kChunk = 1 << 16;
  InputFile& file_;
  std::string path_;
  uint64_t position_, end_;
  StorageResolver resolve_;
  std::vector<unsigned char> buffer_;
  uint64_t buffer_start_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
};

int64_t as_int(const ValuePtr& v, const char* what, const std::string& path) {
  if (auto* i = std::get_if<int64_t>(&v->data)) return *i;
  throw InvalidArgument(concat(path, ": expected an integer for ", what));
}

std::vector<int64_t> as_ints(const ValuePtr& v, const char* what, const std::string& path) {
  const auto* tuple = std::get_if<Items>(&v->data);
  if (!tuple) throw InvalidArgument(concat(path, ": expected a tuple for ", what));
  std::vector<int64_t> out;
  for (const ValuePtr& item : tuple->values) out.push_back(as_int(item, what, path));
  return out;
}

ValuePtr Unpickler::persistent_load(const ValuePtr& id) {
  const auto* tuple = std::get_if<Items>(&id->data);
  if (!tuple || tuple->values.size() < 5) fail("unsupported persistent id (not a storage)");
  const auto& v = tuple->values;
  const auto* tag = std::get_if<std::string>(&v[0]->data);
  const auto* type = std::get_if<Global>(&v[1]->data);
  const auto* key = std::get_if<std::string>(&v[2]->data);
  if (!tag || *tag != "storage" || !type || !key) fail("unsupported persistent id (not a storage)");
  const int64_t numel = as_int(v[4], "a storage size", path_);
  if (numel < 0) fail("negative storage size");
  return make(resolve_(*key, type->name, numel));
}

ValuePtr Unpickler::call(const ValuePtr& callable, const ValuePtr& arguments) {
  const auto* global = std::get_if<Global>(&callable->data);
  const auto* args = std::get_if<Items>(&arguments->data);
  if (!global || !args) fail("REDUCE on something other than a known function");
  const std::string name = global->module + "." + global->name;
  const auto& a = args->values;
  if (name == "collections.OrderedDict") return make(DictItems{});
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
    if (a.size() < 4) fail(concat(name, " with too few arguments"));
    const auto* storage = std::get_if<std::shared_ptr<Storage>>(&a[0]->data);
    if (!storage) fail(concat(name, " without a storage"));
    return make(TensorRef{*storage, as_int(a[1], "a storage offset", path_),
                          as_ints(a[2], "a tensor size", path_),
                          as_ints(a[3], "a tensor stride", path_)});
  }
  if (name == "torch._utils._rebuild_parameter") {
    if (a.empty() || !std::holds_alternative<TensorRef>(a[0]->data)) fail("bad _rebuild_parameter");
    return a[0];
  }
  fail(concat("unsupported pickle callable ", name,
              " (only state dicts of tensors can be read without Python)"));
}

ValuePtr Unpickler::run() {
  constexpr size_t kMaxStack = 1 << 20;  // far above any state dict; bounds hostile input
  while (true) {
    if (stack_.size() > kMaxStack || marks_.size() > kMaxStack) fail("pickle too deeply nested");
    const unsigned char op = *take(1);
    switch (op) {
      case 0x80:
        take(1);
        break;  // PROTO
      case 0x95:
        take(8);
        break;     // FRAME
      case '.': {  // STOP
        if (stack_.size() != 1) fail("pickle ends with a malformed stack");
        return stack_.back();
      }
      case '(':
        marks_.push_back(stack_.size());
        break;  // MARK
      case 'N':
        stack_.push_back(make(std::monostate{}));
        break;
      case 0x88:
        stack_.push_back(make(true));
        break;
      case 0x89:
        stack_.push_back(make(false));
        break;
      case 'J':
        stack_.push_back(make(int64_t(int32_t(little_endian(4)))));
        break;
      case 'K':
        stack_.push_back(make(int64_t(little_endian(1))));
        break;
      case 'M':
        stack_.push_back(make(int64_t(little_endian(2))));
        break;
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const size_t n = *take(1);
        if (n > 8) {  // only the legacy magic number is this long; keep its low bits
          const unsigned char* p = take(n);
          int64_t v = 0;
          for (size_t i = 8; i-- > 0;) v = v << 8 | p[i];
          stack_.push_back(make(v));
          break;
        }
        uint64_t v = little_endian(n);
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t(0) << (8 * n);
        stack_.push_back(make(int64_t(v)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian double
        const unsigned char* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = bits << 8 | p[i];
        double d;
        std::memcpy(&d, &bits, 8);
        stack_.push_back(make(d));
        break;
      }
      case 'X':
      case 0x8c:
      case 'T':
      case 'U':
      case 'B':
      case 'C': {  // strings and bytes
        const size_t n =
            (op == 0x8c || op == 'U' || op == 'C') ? little_endian(1) : little_endian(4);
        const unsigned char* p = take(n);
        stack_.push_back(make(std::string(reinterpret_cast<const char*>(p), n)));
        break;
      }
      case 'c': {  // GLOBAL module\nname\n
        std::string module = line();
        stack_.push_back(make(Global{std::move(module), line()}));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const ValuePtr name = pop(), module = pop();
        const auto* n = std::get_if<std::string>(&name->data);
        const auto* m = std::get_if<std::string>(&module->data);
        if (!n || !m) fail("STACK_GLOBAL without names");
        stack_.push_back(make(Global{*m, *n}));
        break;
      }
      case ')':
        stack_.push_back(make(Items{}));
        break;
      case ']':
        stack_.push_back(make(std::vector<ValuePtr>{}));
        break;
      case '}':
        stack_.push_back(make(DictItems{}));
        break;
      case 't':
        stack_.push_back(make(Items{pop_to_mark()}));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        std::vector<ValuePtr> items(op - 0x84);
        for (size_t i = items.size(); i-- > 0;) items[i] = pop();
        stack_.push_back(make(Items{std::move(items)}));
        break;
      }
      case 'q':
        memo_put(little_endian(1));
        break;
      case 'r':
        memo_put(little_endian(4));
        break;
      case 0x94:
        memo_put(memo_.size());
        break;  // MEMOIZE
      case 'h':
        memo_get(little_endian(1));
        break;
      case 'j':
        memo_get(little_endian(4));
        break;
      case 'Q':
        stack_.push_back(persistent_load(pop()));
        break;     // BINPERSID
      case 'R': {  // REDUCE
        const ValuePtr arguments = pop(), callable = pop();
        stack_.push_back(call(callable, arguments));
        break;
      }
      case 0x81: {  // NEWOBJ cls(*args): only OrderedDict
        const ValuePtr arguments = pop(), cls = pop();
        stack_.push_back(call(cls, arguments));
        break;
      }
      case 'b':
        pop();
        break;  // BUILD: state dict metadata and the like, not needed
      case 's':
      case 'u': {  // SETITEM(S)
        std::vector<ValuePtr> items;
        if (op == 's') {
          const ValuePtr value = pop(), key = pop();
          items = {key, value};
        } else {
          items = pop_to_mark();
        }
        if (stack_.empty()) fail("SETITEMS without a dict");
        auto* dict = std::get_if<DictItems>(&stack_.back()->data);
        if (!dict || items.size() % 2) fail("SETITEMS on something other than a dict");
        reject_cycles(items, stack_.back().get());
        for (size_t i = 0; i < items.size(); i += 2)
          dict->entries.emplace_back(items[i], items[i + 1]);
        break;
      }
      case 'a':
      case 'e': {  // APPEND(S)
        std::vector<ValuePtr> items = op == 'a' ? std::vector<ValuePtr>{pop()} : pop_to_mark();
        if (stack_.empty()) fail("APPENDS without a list");
        auto* list = std::get_if<std::vector<ValuePtr>>(&stack_.back()->data);
        if (!list) fail("APPENDS on something other than a list");
        reject_cycles(items, stack_.back().get());
        list->insert(list->end(), items.begin(), items.end());
        break;
      }
      default:
        position_ -= 1;
        fail(concat("unsupported pickle opcode 0x", std::hex, int(op)));
    }
  }
}

std::optional<DType> storage_dtype(const std::string& type_name) {
  if (type_name == "FloatStorage") return DType::Float32;
  if (type_name == "DoubleStorage") return DType::Float64;
  return std::nullopt;
}

// A tensor from its storage: a view when contiguous (no copy), else a strided copy.
Tensor materialize(const std::string& path, const std::string& key, const TensorRef& ref) {
  const Storage& storage = *ref.storage;
  if (ref.size.size() != ref.stride.size())
    throw InvalidArgument(concat(path, ": tensor '", key, "' has mismatched size and stride"));
  const Shape shape(ref.size);
  int64_t last = ref.offset;  // the furthest element the view touches
  for (size_t d = 0; d < ref.size.size(); ++d)
    if (ref.size[d] > 0) last += (ref.size[d] - 1) * ref.stride[d];
  if (ref.offset < 0 || (shape.numel() > 0 && last >= storage.numel))
    throw InvalidArgument(concat(path, ": tensor '", key, "' reaches outside its storage"));
  int64_t expected = 1;
  bool contiguous = true;
  for (size_t d = ref.size.size(); d-- > 0;) {
    if (ref.size[d] != 1 && ref.stride[d] != expected) contiguous = false;
    expected *= ref.size[d];
  }
  if (contiguous)
    return storage.data.slice_batch(ref.offset, ref.offset + shape.numel()).view(shape);
  Tensor out = Tensor::empty(shape, *storage.dtype);
  const size_t element = element_size(*storage.dtype);
  const auto* source = static_cast<const char*>(storage.data.raw_data());
  auto* target = static_cast<char*>(out.raw_data());
  std::vector<int64_t> index(ref.size.size(), 0);
  for (int64_t flat = 0; flat < shape.numel(); ++flat) {
    int64_t at = ref.offset;
    for (size_t d = 0; d < index.size(); ++d) at += index[d] * ref.stride[d];
    std::memcpy(target + flat * element, source + at * element, element);
    for (size_t d = index.size(); d-- > 0;) {
      if (++index[d] < ref.size[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

TensorMap collect_tensors(const std::string& path, const ValuePtr& root) {
  const auto* dict = std::get_if<DictItems>(&root->data);
  if (!dict) throw InvalidArgument(concat(path, ": the checkpoint is not a state dict"));
  TensorMap tensors;
  for (const auto& [key_value, value] : dict->entries) {
    const auto* key = std::get_if<std::string>(&key_value->data);
    if (!key) throw InvalidArgument(concat(path, ": a state dict key is not a string"));
    const auto* ref = std::get_if<TensorRef>(&value->data);
    if (!ref) {
      // Checkpoints that wrap the weights ({"state_dict": {...}, "epoch": 3}): descend.
      if (std::holds_alternative<DictItems>(value->data) &&
          (*key == "state_dict" || *key == "model"))
        return collect_tensors(path, value);
      continue;
    }
    if (!ref->storage->dtype) {
      if (key->ends_with("num_batches_tracked")) continue;  // BatchNorm's int64 counter
      throw InvalidArgument(concat(path, ": tensor '", *key, "' is stored as ",
                                   ref->storage->type_name, "; only float32 and float64 load"));
    }
    tensors.emplace(*key, materialize(path, *key, *ref));
  }
  return tensors;
}

TensorMap read_zip_checkpoint(InputFile& file) {
  const std::string& path = file.path();
  const ZipArchive archive(file);
  std::string prefix;
  const ZipArchive::Entry* pickle = nullptr;
  for (const auto& [name, entry] : archive.entries())
    if (name.ends_with("data.pkl") && (name.size() == 8 || name[name.size() - 9] == '/')) {
      prefix = name.substr(0, name.size() - 8);
      pickle = &entry;
    }
  if (!pickle)
    throw InvalidArgument(
        concat(path, ": zip archive without data.pkl (not a PyTorch checkpoint)"));
  std::unordered_map<std::string, std::shared_ptr<Storage>> storages;
  auto resolve = [&](const std::string& key, const std::string& type_name, int64_t numel) {
    auto& storage = storages[key];
    if (storage) return storage;
    storage =
        std::make_shared<Storage>(Storage{key, storage_dtype(type_name), type_name, numel, {}});
    const auto entry = archive.entries().find(prefix + "data/" + key);
    if (entry == archive.entries().end())
      throw InvalidArgument(concat(path, ": storage '", key, "' has no data entry"));
    if (!storage->dtype) return storage;
    const uint64_t bytes =
        tensor_bytes(concat(path, ": storage '", key, "'"), Shape{numel}, *storage->dtype);
    if (entry->second.size != bytes)
      throw InvalidArgument(concat(path, ": storage '", key, "' holds ", entry->second.size,
                                   " bytes, its ", numel, " elements need ", bytes));
    storage->data = Tensor::empty({numel}, *storage->dtype);
    file.read_at(entry->second.data_offset, storage->data.raw_data(), bytes);
    return storage;
  };
  Unpickler unpickler(file, pickle->data_offset, pickle->data_offset + pickle->size, resolve);
  return collect_tensors(path, unpickler.run());
}

TensorMap read_legacy_checkpoint(InputFile& file) {
  const std::string& path = file.path();
  auto no_storages = [&](const std::string&, const std::string&,
                         int64_t) -> std::shared_ptr<Storage> {
    throw InvalidArgument(concat(path, ": unexpected storage in a legacy header pickle"));
  };
  uint64_t offset = 0;
  auto next_pickle = [&](const StorageResolver& resolve) {
    Unpickler unpickler(file, offset, file.size(), resolve);
    ValuePtr value = unpickler.run();
    offset = unpickler.position();
    return value;
  };
  // torch.save writes the magic number 0x1950a86a20f9469cfc6c; we keep its low 64 bits.
  constexpr int64_t kMagicLowBits = int64_t(0xa86a20f9469cfc6cull);
  const ValuePtr magic = next_pickle(no_storages);
  const auto* magic_value = std::get_if<int64_t>(&magic->data);
  if (!magic_value || *magic_value != kMagicLowBits)
    throw InvalidArgument(concat(path, ": not a PyTorch checkpoint (bad legacy magic number)"));
  next_pickle(no_storages);  // protocol version
  next_pickle(no_storages);  // system info (endianness, type sizes)

  std::unordered_map<std::string, std::shared_ptr<Storage>> storages;
  const ValuePtr root =
      next_pickle([&](const std::string& key, const std::string& type_name, int64_t numel) {
        auto& storage = storages[key];
        if (!storage)
          storage = std::make_shared<Storage>(
              Storage{key, storage_dtype(type_name), type_name, numel, {}});
        return storage;
      });
  const ValuePtr keys = next_pickle(no_storages);
  const auto* key_list = std::get_if<std::vector<ValuePtr>>(&keys->data);
  if (!key_list) throw InvalidArgument(concat(path, ": legacy checkpoint without a storage list"));
  for (const ValuePtr& key_value : *key_list) {
    const auto* key = std::get_if<std::string>(&key_value->data);
    if (!key || !storages.count(*key))
      throw InvalidArgument(concat(path, ": legacy storage list names an unknown storage"));
    Storage& storage = *storages.at(*key);
    unsigned char count_bytes[8];
    file.read_at(offset, count_bytes, 8);
    int64_t count = 0;
    for (int i = 8; i-- > 0;) count = count << 8 | count_bytes[i];
    if (count != storage.numel)
      throw InvalidArgument(concat(path, ": storage '", *key, "' holds ", count,
                                   " elements, its tensors expect ", storage.numel));
    const size_t element = storage.dtype                        ? element_size(*storage.dtype)
                           : storage.type_name == "LongStorage" ? 8
                                                                : 0;
    if (element == 0)
      throw InvalidArgument(
          concat(path, ": storage '", *key, "' has unsupported type ", storage.type_name));
    const uint64_t bytes = tensor_bytes(concat(path, ": storage '", *key, "'"), Shape{count},
                                        storage.dtype.value_or(DType::Float64));
    if (offset + 8 > file.size() || bytes > file.size() - offset - 8)  // before allocating
      throw InvalidArgument(concat(path, ": storage '", *key, "' runs past the end of the file"));
    if (storage.dtype) {
      storage.data = Tensor::empty({count}, *storage.dtype);
      file.read_at(offset + 8, storage.data.raw_data(), bytes);
    }
    offset += 8 + bytes;
  }
  for (const auto& [key, storage] : storages)
    if (storage->dtype && !storage->data.defined())
      throw InvalidArgument(concat(path, ": storage '", key, "' has no data"));
  return collect_tensors(path, root);
}

}  // namespace

TensorMap read_pth(const std::string& path) {
  InputFile file(path);
  unsigned char head[4] = {0, 0, 0, 0};
  if (file.size() < 4) throw InvalidArgument(concat(path, ": too short for a PyTorch checkpoint"));
  file.read_at(0, head, 4);
  if (head[0] == 'P' && head[1] == 'K' && head[2] == 3 && head[3] == 4)
    return read_zip_checkpoint(file);
  if (head[0] == 0x80) return read_legacy_checkpoint(file);
  throw InvalidArgument(concat(path, ": not a PyTorch checkpoint (neither zip nor pickle)"));
}

TensorMap read_weights(const std::string& path, Metadata* metadata) {
  if (path.ends_with(".pth") || path.ends_with(".pt") || path.ends_with(".bin"))
    return read_pth(path);
  return read_safetensors(path, metadata);
}

}  // namespace saliency::weights
