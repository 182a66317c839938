#include "server/tokenizer/token_trie.h"

namespace mamba {
namespace {

uint64_t edgeKey(int32_t node, uint8_t byte) {
  return (static_cast<uint64_t>(node) << 8) | byte;
}

}  // namespace

void TokenTrie::insert(std::string_view pattern, int32_t value) {
  if (pattern.empty()) return;
  int32_t node = 0;
  for (char c : pattern) {
    const auto byte = static_cast<uint8_t>(c);
    auto [it, inserted] = edges_.try_emplace(edgeKey(node, byte), static_cast<int32_t>(nodes_.size()));
    if (inserted) nodes_.emplace_back();
    node = it->second;
  }
  firstByte_[static_cast<uint8_t>(pattern[0])] = true;
  Node& end = nodes_[static_cast<size_t>(node)];
  if (!end.terminal) {
    end.terminal = true;
    end.value = value;
  }
}

int32_t TokenTrie::child(int32_t node, uint8_t byte) const {
  auto it = edges_.find(edgeKey(node, byte));
  return it == edges_.end() ? -1 : it->second;
}

void TokenTrie::findAll(std::string_view text, std::vector<Match>& out) const {
  if (empty()) return;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!firstByte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t node = 0;
    size_t bestEnd = 0;
    int32_t bestValue = -1;
    for (size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      const Node& n = nodes_[static_cast<size_t>(node)];
      if (n.terminal) {
        bestEnd = i + 1;
        bestValue = n.value;
      }
    }
    if (bestEnd == 0) {
      ++pos;
      continue;
    }
    out.push_back({pos, bestEnd, bestValue});
    pos = bestEnd;
  }
}

}  // namespace mamba
