// Helpers for the Prometheus text exposition format 0.0.4: name validation, label-value and
// HELP escaping, and number formatting that Prometheus and promtool parse back exactly.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mamba::metrics {

// Content type of the text exposition format served on /metrics.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool isValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved for Prometheus internals).
bool isValidLabelName(std::string_view name);
// True when `s` is well-formed UTF-8 (Prometheus rejects a scrape with malformed label values).
bool isValidUtf8(std::string_view s);

// Label value escaping: backslash -> \\, double quote -> \", newline -> \n.
std::string escapeLabelValue(std::string_view value);
// HELP text escaping: backslash -> \\, newline -> \n (quotes stay as they are).
std::string escapeHelp(std::string_view help);

// Shortest text that parses back to exactly `value`: "+Inf", "-Inf", "NaN"; plain decimal
// notation for exponents in [-5, 15] ("0.00005", "1234567", "2.5"), else scientific
// ("1e-06", "1.5e+16"). Integral values print without a fraction ("3", not "3.0").
std::string formatDouble(double value);
void appendDouble(std::string& out, double value);
void appendUint(std::string& out, uint64_t value);

// Appends one sample line: `<name><suffix>{<labelBlock>[,<extraLabel>]} <value>\n`.
// `labelBlock` is a pre-escaped `k="v",k2="v2"` list (possibly empty); `extraLabel` is a
// pre-formatted `le="0.5"` pair or empty. Braces are omitted when there are no labels.
void appendSampleLine(std::string& out, std::string_view name, std::string_view suffix,
                      std::string_view labelBlock, std::string_view extraLabel,
                      std::string_view value);

}  // namespace mamba::metrics
