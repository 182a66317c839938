#include "server/tokenizer/pre_tokenizer.h"

#include <nlohmann/json.hpp>

#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/gpt2_pattern.h"
#include "server/tokenizer/json_fields.h"

namespace mamba {
namespace {

constexpr int kMaxNesting = 16;

}  // namespace

StatusOr<PreTokenizer> PreTokenizer::fromJson(const nlohmann::json* spec,
                                              const std::string& field) {
  PreTokenizer p;
  if (spec != nullptr && !spec->is_null()) {
    MAMBA_RETURN_IF_ERROR(parseInto(*spec, field, p.steps_, 0));
  }
  return p;
}

Status PreTokenizer::parseInto(const nlohmann::json& spec, const std::string& field,
                               std::vector<ByteLevelStep>& steps, int depth) {
  if (depth > kMaxNesting) return json_fields::fieldError(field, "nested too deeply");
  MAMBA_ASSIGN_OR_RETURN(std::string type, json_fields::getType(spec, field));
  if (type == "ByteLevel") {
    ByteLevelStep step;
    MAMBA_ASSIGN_OR_RETURN(step.addPrefixSpace,
                           json_fields::getBool(spec, "add_prefix_space", field, true));
    MAMBA_ASSIGN_OR_RETURN(step.useRegex, json_fields::getBool(spec, "use_regex", field, true));
    MAMBA_ASSIGN_OR_RETURN(bool trimOffsets,
                           json_fields::getBool(spec, "trim_offsets", field, true));
    (void)trimOffsets;  // validated only: offsets are not reported
    steps.push_back(step);
    return Status::ok();
  }
  if (type == "Sequence") {
    return json_fields::forEachElement(spec, "pretokenizers", field,
                                       [&](const nlohmann::json& element, const std::string& f) {
                                         return parseInto(element, f, steps, depth + 1);
                                       });
  }
  return json_fields::fieldError(json_fields::join(field, "type"),
                                 "unsupported pre_tokenizer \"" + type +
                                     "\" (supported: ByteLevel, Sequence)");
}

void PreTokenizer::split(std::string_view piece, std::vector<std::string>& out) const {
  if (piece.empty()) return;
  if (steps_.empty()) {
    out.emplace_back(piece);
    return;
  }
  std::vector<std::string> current;
  current.emplace_back(piece);
  std::vector<std::string> next;
  std::vector<std::string_view> parts;
  std::string prefixed;
  for (size_t s = 0; s < steps_.size(); ++s) {
    const ByteLevelStep& step = steps_[s];
    std::vector<std::string>& target = s + 1 == steps_.size() ? out : next;
    for (const std::string& text : current) {
      std::string_view view = text;
      if (step.addPrefixSpace && !view.starts_with(' ')) {
        prefixed.clear();
        prefixed.push_back(' ');
        prefixed.append(view);
        view = prefixed;
      }
      parts.clear();
      if (step.useRegex) {
        splitGpt2Pattern(view, parts);
      } else {
        parts.push_back(view);
      }
      for (std::string_view part : parts) {
        if (part.empty()) continue;
        std::string mapped;
        mapped.reserve(part.size() * 2);
        byte_level::appendEncoded(part, mapped);
        target.push_back(std::move(mapped));
      }
    }
    current.swap(next);
    next.clear();
  }
}

}  // namespace mamba
