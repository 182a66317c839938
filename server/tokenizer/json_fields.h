// Typed access to tokenizer.json fields with errors that name the field.
//
// `path` is the dotted path of the object being read (e.g. "model"); errors read
// `field "model.type": ...`. The caller adds the file name. Never throws.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "server/common/status.h"

namespace mamba::json_fields {

using Json = nlohmann::json;

// "path.key" (or "key" when path is empty).
std::string join(std::string_view path, std::string_view key);

// Error for field `field`: `field "<field>": <what>`.
Status fieldError(std::string_view field, std::string_view what);

// The member `key` of object `obj`, or nullptr when it is absent or JSON null.
const Json* find(const Json& obj, std::string_view key);

// Name of the JSON type of `j` ("string", "number", ...), for messages.
const char* typeName(const Json& j);

// Member as a bool; `fallback` when absent or null.
StatusOr<bool> getBool(const Json& obj, std::string_view key, std::string_view path,
                       bool fallback);

// Member as a string; nullopt when absent or null.
StatusOr<std::optional<std::string>> getOptionalString(const Json& obj, std::string_view key,
                                                       std::string_view path);

// Required string member.
StatusOr<std::string> getString(const Json& obj, std::string_view key, std::string_view path);

// The "type" member of a component object (normalizer, pre_tokenizer, ...).
StatusOr<std::string> getType(const Json& obj, std::string_view path);

// Calls `fn(element, "path.key[i]")` for every element of the required array member `key`,
// stopping at the first error (e.g. the members of a "Sequence" component).
Status forEachElement(const Json& obj, std::string_view key, std::string_view path,
                      const std::function<Status(const Json&, const std::string&)>& fn);

}  // namespace mamba::json_fields
