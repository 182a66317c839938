#include "server/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

namespace mamba {
namespace {

using OrderedJson = nlohmann::ordered_json;

// The reference crate's limit (MAX_HEADER_SIZE in safetensors/src/tensor.rs).
constexpr uint64_t kMaxHeaderSize = 100'000'000;
constexpr const char* kMetadataKey = "__metadata__";

struct DTypeDesc {
  DType dtype;
  const char* name;
  size_t size;
  // Position in the Rust crate's `Dtype` enum order (which grows with alignment); the
  // writer emits tensors by descending rank, exactly like the crate's `prepare()`.
  int writeRank;
};

constexpr std::array<DTypeDesc, 12> kDTypes = {{
    {DType::kF64, "F64", 8, 10},
    {DType::kF32, "F32", 4, 9},
    {DType::kF16, "F16", 2, 6},
    {DType::kBF16, "BF16", 2, 7},
    {DType::kI64, "I64", 8, 11},
    {DType::kI32, "I32", 4, 8},
    {DType::kI16, "I16", 2, 5},
    {DType::kI8, "I8", 1, 2},
    {DType::kU8, "U8", 1, 1},
    {DType::kBool, "BOOL", 1, 0},
    {DType::kF8E4M3, "F8_E4M3", 1, 4},
    {DType::kF8E5M2, "F8_E5M2", 1, 3},
}};

const DTypeDesc& desc(DType dtype) {
  for (const DTypeDesc& d : kDTypes) {
    if (d.dtype == dtype) return d;
  }
  return kDTypes[1];  // unreachable for valid enum values
}

std::string supportedDTypes() {
  std::string out;
  for (const DTypeDesc& d : kDTypes) {
    if (!out.empty()) out += ", ";
    out += d.name;
  }
  return out;
}

template <typename Int>
std::string shapeString(const std::vector<Int>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

// A short rendering of an untrusted JSON value for error messages.
std::string jsonSnippet(const OrderedJson& value) {
  std::string text;
  try {
    text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  } catch (const std::exception&) {
    return "<unprintable>";
  }
  constexpr size_t kMax = 80;
  if (text.size() > kMax) text = text.substr(0, kMax) + "...";
  return text;
}

// numel and byte size of `shape` x `dtype`, or nullopt on int64 / uint64 overflow.
struct Extent {
  int64_t numel;
  uint64_t nbytes;
};
std::optional<Extent> extentOf(const std::vector<int64_t>& shape, DType dtype) {
  uint64_t numel = 1;
  for (int64_t dim : shape) {
    if (dim < 0) return std::nullopt;
    auto d = static_cast<uint64_t>(dim);
    if (d != 0 && numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / d) {
      return std::nullopt;
    }
    numel *= d;
  }
  uint64_t size = dtypeSize(dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / size) return std::nullopt;
  return Extent{static_cast<int64_t>(numel), numel * size};
}

std::string errnoText(int err) { return std::strerror(err); }

Status ioError(const std::string& what, const std::string& path, int err) {
  std::string msg = path + ": " + what + ": " + errnoText(err);
  if (err == ENOENT || err == ENOTDIR) return notFound(std::move(msg));
  if (err == EACCES || err == EPERM) return failedPrecondition(std::move(msg));
  if (err == EISDIR) return invalidArgument(std::move(msg));
  return internalError(std::move(msg));
}

// Owns a file descriptor.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

uint64_t readLe64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint64_t>(p[i]);
  return v;
}

// Parses and validates a header against a data section of `dataSize` bytes. `path` is only
// used in messages and must outlive the parser. Never throws.
class HeaderParser {
 public:
  HeaderParser(const std::string& path, uint64_t dataSize) : path_(path), dataSize_(dataSize) {}

  Status parse(std::string_view header, std::vector<TensorInfo>* tensors,
               std::map<std::string, std::string>* metadata) {
    try {
      return parseImpl(header, tensors, metadata);
    } catch (const std::exception& e) {
      // nlohmann reports type and range errors by exception; none should reach here, but a
      // corrupt file must never take the process down.
      return dataLoss(path_ + ": malformed header: " + e.what());
    }
  }

 private:
  Status fileError(const std::string& msg) const { return dataLoss(path_ + ": " + msg); }
  Status tensorError(const std::string& name, const std::string& msg) const {
    return dataLoss(path_ + ": tensor '" + name + "': " + msg);
  }

  Status parseImpl(std::string_view header, std::vector<TensorInfo>* tensors,
                   std::map<std::string, std::string>* metadata) {
    // Duplicate top-level keys would silently overwrite each other in the DOM; catch them
    // while parsing.
    std::set<std::string> seen;
    std::string duplicate;
    OrderedJson::parser_callback_t onEvent = [&](int depth, nlohmann::json::parse_event_t event,
                                                 OrderedJson& parsed) {
      if (depth == 1 && event == nlohmann::json::parse_event_t::key && duplicate.empty()) {
        const std::string& key = parsed.get_ref<const std::string&>();
        if (!seen.insert(key).second) duplicate = key;
      }
      return true;
    };
    OrderedJson root;
    try {
      root = OrderedJson::parse(header.begin(), header.end(), onEvent);
    } catch (const nlohmann::json::exception& e) {
      return fileError("header is not valid JSON: " + std::string(e.what()));
    }
    if (!root.is_object()) {
      return fileError(std::string("header must be a JSON object, got ") + root.type_name());
    }
    if (!duplicate.empty()) return tensorError(duplicate, "appears more than once in the header");

    tensors->reserve(root.size());
    for (const auto& [key, value] : root.items()) {
      if (key == kMetadataKey) {
        MAMBA_RETURN_IF_ERROR(parseMetadata(value, metadata));
        continue;
      }
      TensorInfo info;
      MAMBA_RETURN_IF_ERROR(parseTensor(key, value, &info));
      tensors->push_back(std::move(info));
    }
    return checkCoverage(*tensors);
  }

  Status parseMetadata(const OrderedJson& value, std::map<std::string, std::string>* metadata) {
    if (value.is_null()) return Status::ok();  // the crate accepts an explicit null
    if (!value.is_object()) {
      return fileError(std::string("__metadata__ must be an object of strings, got ") +
                       value.type_name());
    }
    for (const auto& [k, v] : value.items()) {
      if (!v.is_string()) {
        return fileError("__metadata__ entry '" + k + "' must be a string, got " + v.type_name() +
                         " " + jsonSnippet(v));
      }
      (*metadata)[k] = v.get<std::string>();
    }
    return Status::ok();
  }

  Status parseTensor(const std::string& name, const OrderedJson& entry, TensorInfo* info) {
    info->name = name;
    if (!entry.is_object()) {
      return tensorError(name, std::string("entry must be an object with dtype, shape and "
                                           "data_offsets, got ") + entry.type_name());
    }
    // dtype
    auto dt = entry.find("dtype");
    if (dt == entry.end()) return tensorError(name, "missing field 'dtype'");
    if (!dt->is_string()) {
      return tensorError(name, std::string("field 'dtype' must be a string, got ") +
                                   dt->type_name() + " " + jsonSnippet(*dt));
    }
    const std::string& dtypeText = dt->get_ref<const std::string&>();
    std::optional<DType> dtype = parseDType(dtypeText);
    if (!dtype) {
      return tensorError(name, "unknown dtype '" + dtypeText + "' (supported: " +
                                   supportedDTypes() + ")");
    }
    info->dtype = *dtype;

    // shape
    auto sh = entry.find("shape");
    if (sh == entry.end()) return tensorError(name, "missing field 'shape'");
    if (!sh->is_array()) {
      return tensorError(name, std::string("field 'shape' must be an array of integers, got ") +
                                   sh->type_name() + " " + jsonSnippet(*sh));
    }
    info->shape.reserve(sh->size());
    for (size_t i = 0; i < sh->size(); ++i) {
      const OrderedJson& dim = (*sh)[i];
      if (dim.is_number_unsigned()) {
        auto d = dim.get<uint64_t>();
        if (d > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          return tensorError(name, "dimension " + std::to_string(i) + " of shape " +
                                       jsonSnippet(*sh) + " is " + std::to_string(d) +
                                       ", larger than the int64 maximum");
        }
        info->shape.push_back(static_cast<int64_t>(d));
      } else if (dim.is_number_integer()) {
        return tensorError(name, "negative dimension " + std::to_string(dim.get<int64_t>()) +
                                     " at index " + std::to_string(i) + " of shape " +
                                     jsonSnippet(*sh));
      } else {
        return tensorError(name, "field 'shape' must be an array of integers, got " +
                                     jsonSnippet(*sh));
      }
    }
    std::optional<Extent> extent = extentOf(info->shape, info->dtype);
    if (!extent) {
      return tensorError(name, "shape " + shapeString(info->shape) + " of " +
                                   dtypeName(info->dtype) +
                                   " overflows: numel or byte size exceeds 64 bits");
    }

    // data_offsets
    auto off = entry.find("data_offsets");
    if (off == entry.end()) return tensorError(name, "missing field 'data_offsets'");
    if (!off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned()) {
      return tensorError(name, "field 'data_offsets' must be [begin, end] of two non-negative "
                               "integers, got " + jsonSnippet(*off));
    }
    info->begin = (*off)[0].get<uint64_t>();
    info->end = (*off)[1].get<uint64_t>();
    std::string offsets =
        "[" + std::to_string(info->begin) + ", " + std::to_string(info->end) + "]";
    if (info->begin > info->end) {
      return tensorError(name, "data_offsets " + offsets + " have begin > end");
    }
    if (info->end > dataSize_) {
      return tensorError(name, "data_offsets " + offsets + ": end " + std::to_string(info->end) +
                                   " is beyond the data section of " + std::to_string(dataSize_) +
                                   " bytes (truncated file or wrong offsets)");
    }
    uint64_t span = info->end - info->begin;
    if (span != extent->nbytes) {
      return tensorError(name, "data_offsets " + offsets + " span " + std::to_string(span) +
                                   " bytes but shape " + shapeString(info->shape) + " of " +
                                   dtypeName(info->dtype) + " needs " +
                                   std::to_string(extent->nbytes) + " bytes (numel " +
                                   std::to_string(extent->numel) + " x " +
                                   std::to_string(dtypeSize(info->dtype)) + ")");
    }
    return Status::ok();
  }

  // Like the reference crate: sorted by (begin, end), the tensors must tile
  // [0, dataSize) with no overlap, no hole and no trailing bytes.
  Status checkCoverage(const std::vector<TensorInfo>& tensors) const {
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::pair(tensors[a].begin, tensors[a].end) <
             std::pair(tensors[b].begin, tensors[b].end);
    });
    uint64_t cursor = 0;
    const TensorInfo* previous = nullptr;
    for (size_t i : order) {
      const TensorInfo& t = tensors[i];
      if (t.begin < cursor) {
        return tensorError(t.name, "data_offsets [" + std::to_string(t.begin) + ", " +
                                       std::to_string(t.end) + "] overlap tensor '" +
                                       previous->name + "' at [" +
                                       std::to_string(previous->begin) + ", " +
                                       std::to_string(previous->end) + "]");
      }
      if (t.begin > cursor) {
        return tensorError(t.name, "data_offsets begin " + std::to_string(t.begin) +
                                       " leaves a hole: bytes [" + std::to_string(cursor) + ", " +
                                       std::to_string(t.begin) +
                                       ") of the data section belong to no tensor");
      }
      cursor = t.end;
      previous = &t;
    }
    if (cursor != dataSize_) {
      return fileError("data section is " + std::to_string(dataSize_) +
                       " bytes but the tensors cover only " + std::to_string(cursor) + " (" +
                       std::to_string(dataSize_ - cursor) + " trailing bytes" +
                       (previous ? " after tensor '" + previous->name + "'" : std::string()) +
                       ")");
    }
    return Status::ok();
  }

  const std::string& path_;
  uint64_t dataSize_;
};

// Whether nlohmann can serialize `s` (i.e. `s` is valid UTF-8).
bool isValidUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

Status writeAll(int fd, const void* data, size_t size, const std::string& path) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("write failed", path, errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::ok();
}

// A temporary file next to the target; removed on destruction unless committed.
class TempFile {
 public:
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !path_.empty()) ::unlink(path_.c_str());
  }
  Status create(const std::string& target) {
    std::string tmpl = target + ".tmp.XXXXXX";
    int fd = ::mkstemp(tmpl.data());
    if (fd < 0) {
      return ioError("cannot create temporary file " + tmpl, target, errno);
    }
    fd_ = fd;
    path_ = std::move(tmpl);
    // mkstemp creates 0600; give the result ordinary permissions.
    ::fchmod(fd_, 0644);
    return Status::ok();
  }
  Status commit(const std::string& target) {
    if (::fsync(fd_) != 0) return ioError("fsync failed", path_, errno);
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return ioError("close failed", path_, errno);
    if (::rename(path_.c_str(), target.c_str()) != 0) {
      return ioError("cannot rename " + path_ + " over it", target, errno);
    }
    committed_ = true;
    // Best effort: persist the rename itself.
    std::string dir = std::filesystem::path(target).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    return Status::ok();
  }
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
  bool committed_ = false;
};

}  // namespace

size_t dtypeSize(DType dtype) { return desc(dtype).size; }

const char* dtypeName(DType dtype) { return desc(dtype).name; }

std::optional<DType> parseDType(std::string_view name) {
  for (const DTypeDesc& d : kDTypes) {
    if (name == d.name) return d.dtype;
  }
  return std::nullopt;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::~SafetensorsFile() {
  if (mapping_ != nullptr) ::munmap(mapping_, mappingSize_);
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ioError("cannot open safetensors file", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ioError("fstat failed", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return failedPrecondition(path + ": not a regular file");
  }
  auto fileSize = static_cast<uint64_t>(st.st_size);
  if (fileSize < 8) {
    return dataLoss(path + ": file is " + std::to_string(fileSize) +
                    " bytes, shorter than the 8-byte header length prefix");
  }

  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  void* mapping = ::mmap(nullptr, fileSize, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (mapping == MAP_FAILED) return ioError("mmap failed", path, errno);
  file->mapping_ = mapping;
  file->mappingSize_ = fileSize;
  const auto* base = static_cast<const std::byte*>(mapping);

  uint64_t headerSize = readLe64(base);
  if (headerSize > kMaxHeaderSize) {
    return dataLoss(path + ": header length " + std::to_string(headerSize) +
                    " exceeds the limit of " + std::to_string(kMaxHeaderSize) + " bytes");
  }
  if (headerSize > fileSize - 8) {
    return dataLoss(path + ": header length " + std::to_string(headerSize) +
                    " exceeds the " + std::to_string(fileSize - 8) +
                    " bytes that follow the length prefix (file size " +
                    std::to_string(fileSize) + ")");
  }
  file->data_ = base + 8 + headerSize;
  file->dataSize_ = fileSize - 8 - headerSize;
  std::string_view header(reinterpret_cast<const char*>(base + 8), headerSize);

  HeaderParser parser(file->path_, file->dataSize_);
  MAMBA_RETURN_IF_ERROR(parser.parse(header, &file->tensors_, &file->metadata_));
  for (size_t i = 0; i < file->tensors_.size(); ++i) {
    file->index_.emplace(file->tensors_[i].name, i);
  }
  return file;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo& info) const {
  if (info.begin > info.end || info.end > dataSize_) return {};
  return {data_ + info.begin, static_cast<size_t>(info.end - info.begin)};
}

Status writeSafetensors(const std::string& path, std::span<const TensorView> tensors,
                        const std::map<std::string, std::string>& metadata) {
  auto argError = [&](const std::string& msg) { return invalidArgument(path + ": " + msg); };

  std::set<std::string_view> names;
  std::vector<uint64_t> nbytes(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorView& t = tensors[i];
    std::string who = "tensor '" + t.name + "': ";
    if (t.name == kMetadataKey) return argError(who + "the name is reserved for metadata");
    if (!names.insert(t.name).second) return argError(who + "name appears more than once");
    if (!isValidUtf8(t.name)) return argError(who + "name is not valid UTF-8");
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0) {
        return argError(who + "negative dimension " + std::to_string(t.shape[d]) +
                        " at index " + std::to_string(d) + " of shape " + shapeString(t.shape));
      }
    }
    std::optional<Extent> extent = extentOf(t.shape, t.dtype);
    if (!extent) {
      return argError(who + "shape " + shapeString(t.shape) + " of " + dtypeName(t.dtype) +
                      " overflows: numel or byte size exceeds 64 bits");
    }
    if (extent->nbytes > 0 && t.data == nullptr) {
      return argError(who + "data is null but shape " + shapeString(t.shape) + " of " +
                      dtypeName(t.dtype) + " needs " + std::to_string(extent->nbytes) +
                      " bytes");
    }
    nbytes[i] = extent->nbytes;
  }
  for (const auto& [k, v] : metadata) {
    if (!isValidUtf8(k) || !isValidUtf8(v)) {
      return argError("metadata entry '" + k + "' is not valid UTF-8");
    }
  }

  // The crate's order: descending dtype rank (alignment), then name.
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int ra = desc(tensors[a].dtype).writeRank;
    int rb = desc(tensors[b].dtype).writeRank;
    if (ra != rb) return ra > rb;
    return tensors[a].name < tensors[b].name;
  });

  std::string header;
  try {
    OrderedJson root = OrderedJson::object();
    if (!metadata.empty()) {
      OrderedJson meta = OrderedJson::object();
      for (const auto& [k, v] : metadata) meta[k] = v;
      root[kMetadataKey] = std::move(meta);
    }
    uint64_t offset = 0;
    for (size_t i : order) {
      const TensorView& t = tensors[i];
      OrderedJson entry = OrderedJson::object();
      entry["dtype"] = dtypeName(t.dtype);
      entry["shape"] = t.shape;
      if (nbytes[i] > std::numeric_limits<uint64_t>::max() - offset) {
        return argError("total data size overflows 64 bits at tensor '" + t.name + "'");
      }
      entry["data_offsets"] = {offset, offset + nbytes[i]};
      offset += nbytes[i];
      root[t.name] = std::move(entry);
    }
    header = root.dump();
  } catch (const std::exception& e) {
    return argError(std::string("cannot serialize the header: ") + e.what());
  }
  header.append((8 - header.size() % 8) % 8, ' ');

  TempFile tmp;
  MAMBA_RETURN_IF_ERROR(tmp.create(path));
  std::array<unsigned char, 8> prefix{};
  uint64_t n = header.size();
  for (size_t i = 0; i < 8; ++i) prefix[i] = static_cast<unsigned char>(n >> (8 * i));
  MAMBA_RETURN_IF_ERROR(writeAll(tmp.fd(), prefix.data(), prefix.size(), tmp.path()));
  MAMBA_RETURN_IF_ERROR(writeAll(tmp.fd(), header.data(), header.size(), tmp.path()));
  for (size_t i : order) {
    if (nbytes[i] == 0) continue;
    MAMBA_RETURN_IF_ERROR(
        writeAll(tmp.fd(), tensors[i].data, static_cast<size_t>(nbytes[i]), tmp.path()));
  }
  return tmp.commit(path);
}

}  // namespace mamba
