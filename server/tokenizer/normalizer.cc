#include "server/tokenizer/normalizer.h"

#include <cstdlib>

#include <nlohmann/json.hpp>
#include <utf8proc.h>

#include "server/tokenizer/json_fields.h"

namespace mamba {
namespace {

constexpr int kMaxNesting = 16;

// Text whose code points are all below U+0300 (no byte >= 0xCC) is already in NFC: those
// characters have canonical combining class 0 and NFC_Quick_Check=Yes.
bool triviallyNfc(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0xCC) return false;
  }
  return true;
}

std::string nfc(std::string_view text) {
  if (triviallyNfc(text)) return std::string(text);
  utf8proc_uint8_t* out = nullptr;
  const utf8proc_ssize_t n = utf8proc_map(
      reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
      static_cast<utf8proc_ssize_t>(text.size()), &out,
      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
  if (n < 0) {
    // Only on ill-formed input, which callers never pass: leave the text as it is.
    std::free(out);
    return std::string(text);
  }
  std::string result(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
  std::free(out);
  return result;
}

}  // namespace

StatusOr<Normalizer> Normalizer::fromJson(const nlohmann::json* spec, const std::string& field) {
  Normalizer n;
  if (spec != nullptr && !spec->is_null()) {
    MAMBA_RETURN_IF_ERROR(parseInto(*spec, field, n.steps_, 0));
  }
  return n;
}

Status Normalizer::parseInto(const nlohmann::json& spec, const std::string& field,
                             std::vector<Step>& steps, int depth) {
  if (depth > kMaxNesting) return json_fields::fieldError(field, "nested too deeply");
  MAMBA_ASSIGN_OR_RETURN(std::string type, json_fields::getType(spec, field));
  if (type == "NFC") {
    steps.push_back(Step::kNfc);
    return Status::ok();
  }
  if (type == "Sequence") {
    return json_fields::forEachElement(spec, "normalizers", field,
                                       [&](const nlohmann::json& element, const std::string& f) {
                                         return parseInto(element, f, steps, depth + 1);
                                       });
  }
  return json_fields::fieldError(json_fields::join(field, "type"),
                                 "unsupported normalizer \"" + type +
                                     "\" (supported: NFC, Sequence)");
}

std::string Normalizer::normalize(std::string_view text) const {
  std::string out(text);
  for (Step step : steps_) {
    switch (step) {
      case Step::kNfc:
        out = nfc(out);
        break;
    }
  }
  return out;
}

}  // namespace mamba
