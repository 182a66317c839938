#include "server/tokenizer/json_fields.h"

#include <nlohmann/json.hpp>

namespace mamba::json_fields {

std::string join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out(path);
  out += '.';
  out += key;
  return out;
}

Status fieldError(std::string_view field, std::string_view what) {
  std::string msg = "field \"";
  msg += field;
  msg += "\": ";
  msg += what;
  return invalidArgument(std::move(msg));
}

const Json* find(const Json& obj, std::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const char* typeName(const Json& j) { return j.type_name(); }

StatusOr<bool> getBool(const Json& obj, std::string_view key, std::string_view path,
                       bool fallback) {
  const Json* v = find(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) {
    return fieldError(join(path, key), std::string("expected a boolean, got ") + typeName(*v));
  }
  return v->get<bool>();
}

StatusOr<std::optional<std::string>> getOptionalString(const Json& obj, std::string_view key,
                                                       std::string_view path) {
  const Json* v = find(obj, key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) {
    return fieldError(join(path, key), std::string("expected a string, got ") + typeName(*v));
  }
  return std::optional<std::string>(v->get<std::string>());
}

StatusOr<std::string> getString(const Json& obj, std::string_view key, std::string_view path) {
  MAMBA_ASSIGN_OR_RETURN(std::optional<std::string> v, getOptionalString(obj, key, path));
  if (!v) return fieldError(join(path, key), "missing");
  return std::move(*v);
}

StatusOr<std::string> getType(const Json& obj, std::string_view path) {
  if (!obj.is_object()) {
    return fieldError(path, std::string("expected an object, got ") + typeName(obj));
  }
  return getString(obj, "type", path);
}

Status forEachElement(const Json& obj, std::string_view key, std::string_view path,
                      const std::function<Status(const Json&, const std::string&)>& fn) {
  const std::string listField = join(path, key);
  const Json* list = find(obj, key);
  if (list == nullptr || !list->is_array()) return fieldError(listField, "expected an array");
  for (size_t i = 0; i < list->size(); ++i) {
    MAMBA_RETURN_IF_ERROR(fn((*list)[i], listField + "[" + std::to_string(i) + "]"));
  }
  return Status::ok();
}

}  // namespace mamba::json_fields
