// A distribution of lengths for the load generator: "128" (fixed) or "64:256" (uniform over
// the closed range).
#pragma once

#include <cstdint>
#include <random>
#include <string>


namespace mamba::client {

class LengthDistribution {
 public:
  LengthDistribution() = default;
  LengthDistribution(int64_t lo, int64_t hi) : lo_(lo), hi_(hi) {}
  // Throws CliError naming `flag` for anything but N or LO:HI with 1 <= LO <= HI.
  static LengthDistribution parse(const std::string& text, const std::string& flag);

  int64_t sample(std::mt19937_64& rng) const;
  int64_t min() const { return lo_; }
  int64_t max() const { return hi_; }
  std::string describe() const;  // "128" or "uniform[64, 256]"

 private:
  int64_t lo_ = 1;
  int64_t hi_ = 1;
};

}  // namespace mamba::client
