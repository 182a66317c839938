#include "server/tokenizer/added_vocabulary.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "server/tokenizer/bpe_model.h"
#include "server/tokenizer/json_fields.h"
#include "server/tokenizer/normalizer.h"
#include "server/tokenizer/unicode_class.h"
#include "server/common/utf8.h"

namespace mamba {
namespace {

// Start of the last character of `text` (non-empty, well-formed UTF-8).
size_t lastCharStart(std::string_view text) {
  size_t pos = text.size() - 1;
  while (pos > 0 && (static_cast<uint8_t>(text[pos]) & 0xC0) == 0x80) --pos;
  return pos;
}

char32_t firstChar(std::string_view text) {
  size_t pos = 0;
  return utf8::decodeValid(text, pos);
}

char32_t lastChar(std::string_view text) {
  size_t pos = lastCharStart(text);
  return utf8::decodeValid(text, pos);
}

// Start of the run of whitespace that ends `text` (text.size() when there is none).
size_t trailingSpaceStart(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    const size_t start = lastCharStart(text.substr(0, end));
    size_t pos = start;
    if (!unicode::isWhiteSpace(utf8::decodeValid(text, pos))) break;
    end = start;
  }
  return end;
}

// Length of the run of whitespace that starts `text`.
size_t leadingSpaceLength(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t next = pos;
    if (!unicode::isWhiteSpace(utf8::decodeValid(text, next))) break;
    pos = next;
  }
  return pos;
}

}  // namespace

StatusOr<AddedVocabulary> AddedVocabulary::fromJson(const nlohmann::json* spec,
                                                    const std::string& field,
                                                    const BpeModel& model,
                                                    const Normalizer& normalizer) {
  AddedVocabulary vocab;
  if (spec == nullptr || spec->is_null()) return vocab;
  if (!spec->is_array()) return json_fields::fieldError(field, "expected an array");
  std::vector<AddedToken> tokens;
  tokens.reserve(spec->size());
  for (size_t i = 0; i < spec->size(); ++i) {
    const std::string item = field + "[" + std::to_string(i) + "]";
    const nlohmann::json& entry = (*spec)[i];
    if (!entry.is_object()) return json_fields::fieldError(item, "expected an object");
    AddedToken t;
    MAMBA_ASSIGN_OR_RETURN(t.content, json_fields::getString(entry, "content", item));
    MAMBA_ASSIGN_OR_RETURN(t.special, json_fields::getBool(entry, "special", item, false));
    MAMBA_ASSIGN_OR_RETURN(t.singleWord, json_fields::getBool(entry, "single_word", item, false));
    MAMBA_ASSIGN_OR_RETURN(t.lstrip, json_fields::getBool(entry, "lstrip", item, false));
    MAMBA_ASSIGN_OR_RETURN(t.rstrip, json_fields::getBool(entry, "rstrip", item, false));
    MAMBA_ASSIGN_OR_RETURN(t.normalized,
                           json_fields::getBool(entry, "normalized", item, !t.special));
    tokens.push_back(std::move(t));
  }
  vocab.nextId_ = static_cast<int32_t>(model.vocabEntries());
  for (const AddedToken& t : tokens) vocab.add(t, model, normalizer);
  if (vocab.maxId_ > BpeModel::kMaxId) {
    return json_fields::fieldError(field, "too many added tokens");
  }
  vocab.buildTries(normalizer);
  return vocab;
}

// HF's AddedVocabulary::add_tokens, for one token of the single call made at load time.
void AddedVocabulary::add(const AddedToken& token, const BpeModel& model,
                          const Normalizer& normalizer) {
  if (token.content.empty()) return;
  std::optional<int32_t> id = tokenToId(token.content);
  if (id) {
    const AddedToken* existing = tokenForId(*id);
    if (existing != nullptr && *existing == token) return;
  }
  if (!id) id = model.tokenToId(token.content);
  if (!id) id = nextId_++;
  if (token.normalized && !normalizer.isIdentity()) {
    std::string normalized = normalizer.normalize(token.content);
    if (normalized != token.content) normalizedForm_[*id] = std::move(normalized);
  }
  contentToId_[token.content] = *id;
  if (token.special) specialContent_.insert(token.content);
  idToToken_[*id] = token;
  maxId_ = std::max(maxId_, *id);
}

// The matchers hold the latest entry of every added id, by its own normalized flag.
void AddedVocabulary::buildTries(const Normalizer& normalizer) {
  std::vector<int32_t> ids;
  ids.reserve(idToToken_.size());
  for (const auto& [id, token] : idToToken_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (int32_t id : ids) {
    const AddedToken& t = idToToken_.at(id);
    if (t.normalized) {
      normalizedTrie_.insert(normalizer.normalize(t.content), id);
    } else {
      rawTrie_.insert(t.content, id);
    }
  }
}

void AddedVocabulary::splitRaw(std::string_view text, std::vector<Segment>& out) const {
  split(text, rawTrie_, out);
}

void AddedVocabulary::splitNormalized(std::string_view text, std::vector<Segment>& out) const {
  split(text, normalizedTrie_, out);
}

// HF's AddedVocabulary::find_matches, with offsets clamped where HF would panic.
void AddedVocabulary::split(std::string_view text, const TokenTrie& trie,
                            std::vector<Segment>& out) const {
  if (text.empty()) return;
  thread_local std::vector<TokenTrie::Match> matches;
  matches.clear();
  trie.findAll(text, matches);
  size_t startOffset = 0;
  for (const TokenTrie::Match& m : matches) {
    size_t start = m.start;
    size_t stop = m.end;
    const AddedToken& token = idToToken_.at(m.value);
    if (token.singleWord) {
      const bool startSpace = start == 0 || !unicode::isWordChar(lastChar(text.substr(0, start)));
      const bool stopSpace =
          stop == text.size() || !unicode::isWordChar(firstChar(text.substr(stop)));
      if (!startSpace || !stopSpace) continue;
    }
    if (token.lstrip) start = std::max(trailingSpaceStart(text.substr(0, start)), startOffset);
    if (token.rstrip) stop += leadingSpaceLength(text.substr(stop));
    start = std::min(start, stop);
    if (startOffset < start) out.push_back({text.substr(startOffset, start - startOffset), -1});
    out.push_back({text.substr(start, stop - start), m.value});
    startOffset = stop;
  }
  if (startOffset < text.size()) out.push_back({text.substr(startOffset), -1});
}

std::optional<int32_t> AddedVocabulary::tokenToId(std::string_view content) const {
  auto it = contentToId_.find(std::string(content));
  if (it == contentToId_.end()) return std::nullopt;
  return it->second;
}

const AddedToken* AddedVocabulary::tokenForId(int32_t id) const {
  auto it = idToToken_.find(id);
  return it == idToToken_.end() ? nullptr : &it->second;
}

const std::string* AddedVocabulary::decodeForm(int32_t id) const {
  auto it = normalizedForm_.find(id);
  if (it != normalizedForm_.end()) return &it->second;
  const AddedToken* t = tokenForId(id);
  return t == nullptr ? nullptr : &t->content;
}

bool AddedVocabulary::isSpecialContent(std::string_view token) const {
  return specialContent_.contains(std::string(token));
}

}  // namespace mamba
