// TokenTrie: leftmost-longest, non-overlapping search for a fixed set of byte patterns
// (the semantics of aho-corasick's MatchKind::LeftmostLongest, which HF uses to find
// added tokens).
//
// Cost: O(text length x longest pattern) in the worst case. Immutable after building;
// findAll() is thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mamba {

class TokenTrie {
 public:
  struct Match {
    size_t start;
    size_t end;
    int32_t value;  // the value given to insert()
  };

  // Adds a non-empty pattern. When the same pattern is inserted twice, the first value wins.
  void insert(std::string_view pattern, int32_t value);
  bool empty() const { return nodes_.size() <= 1; }

  // Appends to `out` the matches in `text`, scanning left to right: at the leftmost position
  // where any pattern matches, the longest pattern wins; the scan resumes after it.
  void findAll(std::string_view text, std::vector<Match>& out) const;

 private:
  struct Node {
    int32_t value = -1;  // >= 0 when a pattern ends here
    bool terminal = false;
  };
  int32_t child(int32_t node, uint8_t byte) const;

  std::vector<Node> nodes_{Node{}};
  std::unordered_map<uint64_t, int32_t> edges_;  // (node << 8 | byte) -> child
  std::array<bool, 256> firstByte_{};
};

}  // namespace mamba
