#include "server/metrics/text_format.h"

#include "server/common/utf8.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace mamba::metrics {
namespace {

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

bool isValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = isAlpha(c) || c == '_' || c == ':' || (i > 0 && isDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool isValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = isAlpha(c) || c == '_' || (i > 0 && isDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool isValidUtf8(std::string_view s) { return ::mamba::utf8::isValid(s); }

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

void appendDouble(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (value == 0.0) {  // Also folds -0 into "0".
    out += '0';
    return;
  }
  char buf[64];
  // Shortest round-trip digits in scientific form tell us the decimal exponent.
  const auto sciResult =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(sciResult.ptr - buf));
  size_t expPos = sci.find('e') + 1;
  if (sci[expPos] == '+') ++expPos;  // from_chars takes '-' but not '+'.
  int exponent = 0;
  std::from_chars(sci.data() + expPos, sci.data() + sci.size(), exponent);
  if (exponent < -5 || exponent > 15) {
    out.append(sci);
    return;
  }
  const auto fixedResult =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed);
  out.append(buf, static_cast<size_t>(fixedResult.ptr - buf));
}

std::string formatDouble(double value) {
  std::string out;
  appendDouble(out, value);
  return out;
}

void appendUint(std::string& out, uint64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, static_cast<size_t>(end - buf));
}

void appendSampleLine(std::string& out, std::string_view name, std::string_view suffix,
                      std::string_view labelBlock, std::string_view extraLabel,
                      std::string_view value) {
  out.append(name);
  out.append(suffix);
  if (!labelBlock.empty() || !extraLabel.empty()) {
    out += '{';
    out.append(labelBlock);
    if (!labelBlock.empty() && !extraLabel.empty()) out += ',';
    out.append(extraLabel);
    out += '}';
  }
  out += ' ';
  out.append(value);
  out += '\n';
}

}  // namespace mamba::metrics
