// BpeModel: the "model" section of tokenizer.json when model.type is "BPE".
//
// Tokenizes one pre-token exactly as HF's BPE: the word is split into characters, each
// looked up in the vocabulary (missing ones become unk_token when set, fused when
// fuse_unk, and are dropped otherwise), then pairs are merged lowest rank first (leftmost
// on ties) with a priority queue; with ignore_merges a word that is itself in the vocabulary
// is emitted whole. Supported: merges as "a b" strings or [a, b] pairs, dropout null (or
// 0), byte_fallback false, no continuing_subword_prefix / end_of_word_suffix.
// Ids must lie in [0, kMaxId]. Immutable after construction; all methods are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/common/status.h"

namespace mamba {

class BpeModel {
 public:
  static constexpr int32_t kMaxId = (1 << 24) - 1;

  // Parses the model object; `field` ("model") names it in errors.
  static StatusOr<BpeModel> fromJson(const nlohmann::json& spec, const std::string& field);

  // Move-only: idToToken_ points into vocab_'s nodes, which survive a move but not a copy.
  BpeModel(BpeModel&&) noexcept = default;
  BpeModel& operator=(BpeModel&&) noexcept = default;
  BpeModel(const BpeModel&) = delete;
  BpeModel& operator=(const BpeModel&) = delete;

  // Appends the ids of `word` (a non-empty pre-token) to `out`.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> tokenToId(std::string_view token) const;
  // The vocabulary string of `id`, or nullptr.
  const std::string* idToToken(int32_t id) const;
  // Number of vocabulary entries (HF's get_vocab_size for the model).
  size_t vocabEntries() const { return vocab_.size(); }
  // Largest id in the vocabulary, or -1 when it is empty.
  int32_t maxId() const { return static_cast<int32_t>(idToToken_.size()) - 1; }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Merge {
    uint32_t rank;
    int32_t newId;
  };
  static uint64_t pairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  BpeModel() = default;
  Status parseVocab(const nlohmann::json& spec, const std::string& field);
  Status parseMerges(const nlohmann::json& spec, const std::string& field);
  // Applies the merges to `ids` in place (HF's Word::merge_all).
  void mergeAll(std::vector<int32_t>& ids) const;

  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> vocab_;
  std::vector<const std::string*> idToToken_;  // points into vocab_ keys; null for gaps
  std::unordered_map<uint64_t, Merge> merges_;
  std::optional<int32_t> unkId_;
  bool fuseUnk_ = false;
  bool ignoreMerges_ = false;
};

}  // namespace mamba
