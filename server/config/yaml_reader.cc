#include "server/config/yaml_reader.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace mamba::config {

std::string describeNode(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "null";
  if (node.IsScalar()) return "\"" + node.Scalar() + "\"";
  YAML::Emitter out;
  out << YAML::Flow << node;
  return out.c_str();
}

StatusOr<YamlMap> YamlMap::from(const YAML::Node& node, std::string path) {
  // An absent key yields an invalid ("zombie") node on which most calls throw; use null.
  if (!node.IsDefined()) return YamlMap(YAML::Node(), std::move(path));
  if (!node.IsNull() && !node.IsMap()) {
    return invalidArgument((path.empty() ? std::string("config") : path) +
                           ": must be a mapping (key: value lines), got " + describeNode(node));
  }
  return YamlMap(node, std::move(path));
}

std::string YamlMap::keyPath(const char* key) const {
  return path_.empty() ? std::string(key) : path_ + "." + key;
}

bool YamlMap::has(const char* key) const {
  if (!node_.IsMap()) return false;
  YAML::Node value = node_[key];
  return value.IsDefined() && !value.IsNull();
}

YAML::Node YamlMap::get(const char* key) const {
  if (!node_.IsMap()) return YAML::Node();
  return node_[key];
}

Status YamlMap::checkKeys(std::initializer_list<const char*> allowed) const {
  if (!node_.IsMap()) return Status::ok();
  for (const auto& entry : node_) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : describeNode(entry.first);
    bool known = false;
    for (const char* a : allowed) known = known || key == a;
    if (known) continue;
    std::string list;
    for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return invalidArgument(keyPath(key.c_str()) + ": unknown key (expected one of: " + list + ")");
  }
  return Status::ok();
}

Status YamlMap::bad(const char* key, const std::string& what, const YAML::Node& value) const {
  return invalidArgument(keyPath(key) + ": " + what + ", got " + describeNode(value));
}

Status YamlMap::readString(const char* key, std::string* out) const {
  if (!has(key)) return Status::ok();
  YAML::Node value = get(key);
  if (!value.IsScalar() || value.Scalar().empty()) return bad(key, "must be a non-empty string", value);
  *out = value.Scalar();
  return Status::ok();
}

Status YamlMap::readInt(const char* key, int64_t minimum, const char* what, int64_t* out) const {
  if (!has(key)) return Status::ok();
  YAML::Node value = get(key);
  if (!value.IsScalar()) return bad(key, what, value);
  const std::string& s = value.Scalar();
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < minimum) return bad(key, what, value);
  *out = v;
  return Status::ok();
}

Status YamlMap::readPositiveInt(const char* key, int64_t* out) const {
  return readInt(key, 1, "must be a positive integer", out);
}

Status YamlMap::readNonNegativeInt(const char* key, int64_t* out) const {
  return readInt(key, 0, "must be a non-negative integer", out);
}

Status YamlMap::readNonNegativeDouble(const char* key, double* out) const {
  if (!has(key)) return Status::ok();
  YAML::Node value = get(key);
  const char* what = "must be a non-negative number";
  if (!value.IsScalar() || value.Scalar().empty()) return bad(key, what, value);
  const std::string& s = value.Scalar();
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) return bad(key, what, value);
  *out = v;
  return Status::ok();
}

Status YamlMap::readBool(const char* key, bool* out) const {
  if (!has(key)) return Status::ok();
  YAML::Node value = get(key);
  bool v = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, v)) {
    return bad(key, "must be true or false", value);
  }
  *out = v;
  return Status::ok();
}

Status YamlMap::readStringList(const char* key, std::vector<std::string>* out) const {
  if (!has(key)) return Status::ok();
  YAML::Node value = get(key);
  const char* what = "must be a non-empty list of strings";
  if (!value.IsSequence() || value.size() == 0) return bad(key, what, value);
  std::vector<std::string> items;
  for (const auto& item : value) {
    if (!item.IsScalar() || item.Scalar().empty()) return bad(key, what, value);
    items.push_back(item.Scalar());
  }
  *out = std::move(items);
  return Status::ok();
}

}  // namespace mamba::config
