// Normalizer: the "normalizer" section of tokenizer.json.
//
// Supported: null (identity), {"type": "NFC"} (Unicode NFC through utf8proc), and
// {"type": "Sequence", "normalizers": [...]} of supported normalizers, applied in order.
// Immutable after construction; normalize() is thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/common/status.h"

namespace mamba {

class Normalizer {
 public:
  // Identity normalizer.
  Normalizer() = default;

  // Parses `spec` (nullptr or JSON null: identity). `field` names it in errors.
  static StatusOr<Normalizer> fromJson(const nlohmann::json* spec, const std::string& field);

  bool isIdentity() const { return steps_.empty(); }

  // Normalizes well-formed UTF-8 text; the result is well-formed UTF-8.
  std::string normalize(std::string_view text) const;

 private:
  enum class Step { kNfc };
  static Status parseInto(const nlohmann::json& spec, const std::string& field,
                          std::vector<Step>& steps, int depth);

  std::vector<Step> steps_;
};

}  // namespace mamba
