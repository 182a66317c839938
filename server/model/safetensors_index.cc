#include "server/model/safetensors_index.h"

#include <exception>
#include <filesystem>
#include <system_error>
#include <utility>

#include <nlohmann/json.hpp>

#include "server/common/file_util.h"

namespace mamba {
namespace {

namespace fs = std::filesystem;

// An index lists one line per tensor; anything near this size is not an index.
constexpr uintmax_t kMaxIndexSize = 100'000'000;

StatusOr<std::string> readIndex(const std::string& path) {
  std::error_code ec;
  uintmax_t size = fs::file_size(path, ec);
  if (ec) return internalError(path + ": cannot stat index file: " + ec.message());
  if (size > kMaxIndexSize) {
    return dataLoss(path + ": index file is " + std::to_string(size) +
                    " bytes, more than the limit of " + std::to_string(kMaxIndexSize));
  }
  return readWholeFile(path, "index file");
}

// A shard name must stay inside the checkpoint directory.
bool isSafeShardName(const std::string& name) {
  if (name.empty()) return false;
  fs::path p(name);
  if (p.is_absolute() || p.has_root_path()) return false;
  for (const fs::path& part : p) {
    if (part == "..") return false;
  }
  return true;
}

// The "weight_map" of an index as (tensor, shard) pairs. Never throws.
StatusOr<std::map<std::string, std::string>> parseWeightMap(const std::string& indexPath,
                                                            const std::string& text) {
  try {
    nlohmann::json root;
    try {
      root = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      return dataLoss(indexPath + ": index is not valid JSON: " + e.what());
    }
    if (!root.is_object()) {
      return dataLoss(indexPath + ": index must be a JSON object, got " +
                      std::string(root.type_name()));
    }
    auto wm = root.find("weight_map");
    if (wm == root.end()) return dataLoss(indexPath + ": index has no 'weight_map'");
    if (!wm->is_object()) {
      return dataLoss(indexPath + ": 'weight_map' must be an object, got " +
                      std::string(wm->type_name()));
    }
    std::map<std::string, std::string> out;
    for (const auto& [tensor, shard] : wm->items()) {
      if (!shard.is_string()) {
        return dataLoss(indexPath + ": weight_map entry for tensor '" + tensor +
                        "' must be a shard file name (string), got " +
                        std::string(shard.type_name()));
      }
      const auto& shardName = shard.get_ref<const std::string&>();
      if (!isSafeShardName(shardName)) {
        return dataLoss(indexPath + ": weight_map entry for tensor '" + tensor +
                        "' names shard '" + shardName +
                        "', which is empty, absolute or leaves the checkpoint directory");
      }
      out.emplace(tensor, shardName);
    }
    return out;
  } catch (const std::exception& e) {
    return dataLoss(indexPath + ": malformed index: " + e.what());
  }
}

}  // namespace

StatusOr<std::unique_ptr<SafetensorsCheckpoint>> SafetensorsCheckpoint::openDir(
    const std::string& dir) {
  std::error_code ec;
  fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st)) return notFound(dir + ": checkpoint directory does not exist");
  if (!fs::is_directory(st)) return invalidArgument(dir + ": not a directory");

  std::unique_ptr<SafetensorsCheckpoint> ckpt(new SafetensorsCheckpoint());
  ckpt->dir_ = dir;
  const fs::path root(dir);
  const std::string single = (root / kSafetensorsSingleFile).string();
  const std::string index = (root / kSafetensorsIndexFile).string();

  if (fs::exists(single, ec)) {
    MAMBA_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsFile> file, SafetensorsFile::open(single));
    for (const TensorInfo& info : file->tensors()) {
      ckpt->entries_.emplace(info.name, Entry{file.get(), &info});
    }
    ckpt->files_.push_back(std::move(file));
    return ckpt;
  }
  if (!fs::exists(index, ec)) {
    return notFound(dir + ": neither " + kSafetensorsSingleFile + " nor " +
                    kSafetensorsIndexFile + " exists");
  }

  MAMBA_ASSIGN_OR_RETURN(std::string text, readIndex(index));
  MAMBA_ASSIGN_OR_RETURN(auto weightMap, parseWeightMap(index, text));

  // Shard name -> the tensors the index places there (both sorted: deterministic errors).
  std::map<std::string, std::vector<const std::string*>> byShard;
  for (const auto& [tensor, shard] : weightMap) byShard[shard].push_back(&tensor);

  for (const auto& [shard, tensors] : byShard) {
    const std::string shardPath = (root / shard).string();
    StatusOr<std::unique_ptr<SafetensorsFile>> opened = SafetensorsFile::open(shardPath);
    if (!opened.isOk()) {
      std::string context = index + ": shard '" + shard + "' (holding tensor '" + *tensors[0] +
                            "'" +
                            (tensors.size() > 1
                                 ? " and " + std::to_string(tensors.size() - 1) + " more"
                                 : std::string()) +
                            ")";
      return opened.status().withContext(context);
    }
    std::unique_ptr<SafetensorsFile> file = std::move(opened).value();
    for (const std::string* tensor : tensors) {
      const TensorInfo* info = file->find(*tensor);
      if (info == nullptr) {
        return dataLoss(index + ": weight_map places tensor '" + *tensor + "' in shard '" +
                        shard + "', but " + shardPath + " has no such tensor (it holds " +
                        std::to_string(file->tensors().size()) + " tensors)");
      }
      ckpt->entries_.emplace(*tensor, Entry{file.get(), info});
    }
    ckpt->files_.push_back(std::move(file));
  }
  return ckpt;
}

std::optional<SafetensorsCheckpoint::Entry> SafetensorsCheckpoint::find(
    std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

}  // namespace mamba
