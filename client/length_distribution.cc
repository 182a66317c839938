#include "client/length_distribution.h"

#include <charconv>

#include "client/cli_error.h"

namespace mamba::client {
namespace {

bool parseInt(const std::string& s, int64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

LengthDistribution LengthDistribution::parse(const std::string& text, const std::string& flag) {
  const CliError bad(flag + ": expected N or LO:HI with 1 <= LO <= HI, got \"" + text + "\"");
  const size_t colon = text.find(':');
  int64_t lo = 0, hi = 0;
  if (colon == std::string::npos) {
    if (!parseInt(text, &lo)) throw bad;
    hi = lo;
  } else if (!parseInt(text.substr(0, colon), &lo) || !parseInt(text.substr(colon + 1), &hi)) {
    throw bad;
  }
  if (lo < 1 || hi < lo) throw bad;
  return LengthDistribution(lo, hi);
}

int64_t LengthDistribution::sample(std::mt19937_64& rng) const {
  if (lo_ == hi_) return lo_;
  return std::uniform_int_distribution<int64_t>(lo_, hi_)(rng);
}

std::string LengthDistribution::describe() const {
  if (lo_ == hi_) return std::to_string(lo_);
  return "uniform[" + std::to_string(lo_) + ", " + std::to_string(hi_) + "]";
}

}  // namespace mamba::client
