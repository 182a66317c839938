// AddedVocabulary: the "added_tokens" section of tokenizer.json, as HF's AddedVocabulary.
//
// Loading follows HF `tokenizers` 0.23, not the "id" fields of the file: tokens are added in
// file order; a token whose content is in the model vocab (or was added before) takes that
// id, any other takes the next id counting up from the model's number of vocab entries
// (which can collide with a vocab id when vocab ids are sparse, as in HF). For files saved
// by HF the ids agree. A later entry with the same content replaces the earlier one's flags;
// an identical entry is ignored. Tokens with normalized=false are matched on the raw text;
// tokens with normalized=true are matched, in their normalized form, on the normalized
// pieces between the former. Matching is leftmost-longest; single_word, lstrip and rstrip
// behave as in HF (whitespace = Unicode White_Space; "word" = unicode::isWordChar).
// As in HF, a token with normalized=true decodes from its normalized form (decodeForm()).
// Immutable after construction; all methods are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "server/common/status.h"
#include "server/tokenizer/token_trie.h"

namespace mamba {

class BpeModel;
class Normalizer;

struct AddedToken {
  std::string content;
  bool special = false;
  bool singleWord = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool operator==(const AddedToken&) const = default;
};

class AddedVocabulary {
 public:
  // A piece of text: either an added token (id >= 0) or text still to be processed.
  struct Segment {
    std::string_view text;
    int32_t id = -1;
  };

  AddedVocabulary() = default;

  // Parses the added_tokens array (nullptr: none). `field` names it in errors.
  static StatusOr<AddedVocabulary> fromJson(const nlohmann::json* spec, const std::string& field,
                                            const BpeModel& model, const Normalizer& normalizer);

  // Splits raw text on the non-normalized tokens. Empty text pieces are dropped.
  void splitRaw(std::string_view text, std::vector<Segment>& out) const;
  // Splits an already normalized piece on the normalized tokens. Empty pieces are dropped.
  void splitNormalized(std::string_view text, std::vector<Segment>& out) const;

  std::optional<int32_t> tokenToId(std::string_view content) const;
  // The added token that owns `id` (the last entry registered for it), or nullptr.
  const AddedToken* tokenForId(int32_t id) const;
  // The string HF decodes for added id `id`: its normalized content when a normalized=true
  // entry for it was ever registered and normalization changed it, else its content.
  const std::string* decodeForm(int32_t id) const;
  // True if `token` is the content of any entry registered as special (HF's
  // is_special_token, which decode uses for skip_special_tokens).
  bool isSpecialContent(std::string_view token) const;
  // Largest added id, or -1.
  int32_t maxId() const { return maxId_; }

 private:
  void add(const AddedToken& token, const BpeModel& model, const Normalizer& normalizer);
  void buildTries(const Normalizer& normalizer);
  void split(std::string_view text, const TokenTrie& trie, std::vector<Segment>& out) const;

  std::unordered_map<std::string, int32_t> contentToId_;
  std::unordered_map<int32_t, AddedToken> idToToken_;
  std::unordered_map<int32_t, std::string> normalizedForm_;  // only where it differs
  std::unordered_set<std::string> specialContent_;
  TokenTrie rawTrie_;
  TokenTrie normalizedTrie_;
  int32_t nextId_ = 0;
  int32_t maxId_ = -1;
};

}  // namespace mamba
