#include "server/tokenizer/bpe_model.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "server/tokenizer/json_fields.h"
#include "server/common/utf8.h"

namespace mamba {
namespace {

using json_fields::fieldError;
using json_fields::join;

std::string indexed(const std::string& field, size_t i) {
  return field + "[" + std::to_string(i) + "]";
}

// A merge candidate: the pair starting at symbol `pos`. Popped lowest rank first, then
// lowest position (HF's Merge ordering).
struct Candidate {
  uint32_t rank;
  int32_t pos;
  int32_t newId;
  bool operator>(const Candidate& o) const {
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

}  // namespace

StatusOr<BpeModel> BpeModel::fromJson(const nlohmann::json& spec, const std::string& field) {
  if (!spec.is_object()) return fieldError(field, "expected an object");
  BpeModel m;

  if (const nlohmann::json* dropout = json_fields::find(spec, "dropout")) {
    if (!dropout->is_number()) return fieldError(join(field, "dropout"), "expected null or a number");
    if (dropout->get<double>() != 0.0) {
      return Status(StatusCode::kUnimplemented,
                    "field \"" + join(field, "dropout") + "\": BPE dropout " + dropout->dump() +
                        " is not supported (only null)");
    }
  }
  MAMBA_ASSIGN_OR_RETURN(bool byteFallback, json_fields::getBool(spec, "byte_fallback", field, false));
  if (byteFallback) {
    return Status(StatusCode::kUnimplemented,
                  "field \"" + join(field, "byte_fallback") + "\": true is not supported");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    MAMBA_ASSIGN_OR_RETURN(std::optional<std::string> affix,
                           json_fields::getOptionalString(spec, key, field));
    if (affix && !affix->empty()) {
      return Status(StatusCode::kUnimplemented,
                    "field \"" + join(field, key) + "\": only null is supported");
    }
  }
  MAMBA_ASSIGN_OR_RETURN(m.fuseUnk_, json_fields::getBool(spec, "fuse_unk", field, false));
  MAMBA_ASSIGN_OR_RETURN(m.ignoreMerges_, json_fields::getBool(spec, "ignore_merges", field, false));

  MAMBA_RETURN_IF_ERROR(m.parseVocab(spec, field));
  MAMBA_RETURN_IF_ERROR(m.parseMerges(spec, field));

  MAMBA_ASSIGN_OR_RETURN(std::optional<std::string> unk,
                         json_fields::getOptionalString(spec, "unk_token", field));
  if (unk) {
    m.unkId_ = m.tokenToId(*unk);
    if (!m.unkId_) return fieldError(join(field, "unk_token"), "\"" + *unk + "\" is not in the vocab");
  }
  return m;
}

Status BpeModel::parseVocab(const nlohmann::json& spec, const std::string& field) {
  const std::string vocabField = join(field, "vocab");
  const nlohmann::json* vocab = json_fields::find(spec, "vocab");
  if (vocab == nullptr || !vocab->is_object()) {
    return fieldError(vocabField, "expected an object of token -> id");
  }
  vocab_.reserve(vocab->size());
  int32_t maxId = -1;
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    const nlohmann::json& v = it.value();
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > kMaxId) {
      return fieldError(join(vocabField, it.key()),
                        "expected an integer id in [0, " + std::to_string(kMaxId) + "]");
    }
    const auto id = static_cast<int32_t>(v.get<int64_t>());
    vocab_.emplace(it.key(), id);
    maxId = std::max(maxId, id);
  }
  idToToken_.assign(static_cast<size_t>(maxId + 1), nullptr);
  for (const auto& [token, id] : vocab_) {
    // Several tokens may share an id: keep the smallest string, so the choice is stable.
    const std::string*& slot = idToToken_[static_cast<size_t>(id)];
    if (slot == nullptr || token < *slot) slot = &token;
  }
  return Status::ok();
}

Status BpeModel::parseMerges(const nlohmann::json& spec, const std::string& field) {
  const std::string mergesField = join(field, "merges");
  const nlohmann::json* merges = json_fields::find(spec, "merges");
  if (merges == nullptr) return Status::ok();
  if (!merges->is_array()) return fieldError(mergesField, "expected an array");
  merges_.reserve(merges->size());
  std::string left, right;
  for (size_t i = 0; i < merges->size(); ++i) {
    const nlohmann::json& entry = (*merges)[i];
    if (entry.is_string()) {
      const std::string& s = entry.get_ref<const std::string&>();
      const size_t space = s.find(' ');
      if (space == std::string::npos) {
        return fieldError(indexed(mergesField, i), "expected \"a b\", got \"" + s + "\"");
      }
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
               entry[1].is_string()) {
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    } else {
      return fieldError(indexed(mergesField, i), "expected \"a b\" or [\"a\", \"b\"]");
    }
    const std::optional<int32_t> a = tokenToId(left);
    const std::optional<int32_t> b = tokenToId(right);
    const std::optional<int32_t> merged = tokenToId(left + right);
    for (const auto& [id, tok] : {std::pair{a, left}, std::pair{b, right},
                                   std::pair{merged, left + right}}) {
      if (!id) return fieldError(indexed(mergesField, i), "token \"" + tok + "\" is not in the vocab");
    }
    // Like HF, a repeated pair takes the rank of its last occurrence.
    merges_.insert_or_assign(pairKey(*a, *b), Merge{static_cast<uint32_t>(i), *merged});
  }
  return Status::ok();
}

std::optional<int32_t> BpeModel::tokenToId(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::idToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= idToToken_.size()) return nullptr;
  return idToToken_[static_cast<size_t>(id)];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignoreMerges_) {
    if (auto id = tokenToId(word)) {
      out.push_back(*id);
      return;
    }
  }
  thread_local std::vector<int32_t> ids;
  ids.clear();
  bool pendingUnk = false;  // an unknown run not yet emitted (with fuse_unk)
  size_t pos = 0;
  while (pos < word.size()) {
    const size_t start = pos;
    utf8::decodeValid(word, pos);
    auto it = vocab_.find(word.substr(start, pos - start));
    if (it != vocab_.end()) {
      if (pendingUnk) ids.push_back(*unkId_);
      pendingUnk = false;
      ids.push_back(it->second);
    } else if (unkId_) {
      if (pendingUnk && !fuseUnk_) ids.push_back(*unkId_);
      pendingUnk = true;
    }
  }
  if (pendingUnk) ids.push_back(*unkId_);
  if (ids.size() > 1 && !merges_.empty()) mergeAll(ids);
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeModel::mergeAll(std::vector<int32_t>& ids) const {
  thread_local std::vector<Symbol> symbols;
  thread_local std::vector<Candidate> heap;
  const auto n = static_cast<int32_t>(ids.size());
  symbols.resize(static_cast<size_t>(n));
  heap.clear();
  const auto cmp = std::greater<Candidate>();
  auto pushPair = [&](int32_t pos) {
    const Symbol& l = symbols[static_cast<size_t>(pos)];
    if (l.next < 0) return;
    auto it = merges_.find(pairKey(l.id, symbols[static_cast<size_t>(l.next)].id));
    if (it == merges_.end()) return;
    heap.push_back({it->second.rank, pos, it->second.newId});
    std::push_heap(heap.begin(), heap.end(), cmp);
  };
  for (int32_t i = 0; i < n; ++i) {
    symbols[static_cast<size_t>(i)] = {ids[static_cast<size_t>(i)], i - 1, i + 1 < n ? i + 1 : -1, true};
  }
  for (int32_t i = 0; i + 1 < n; ++i) pushPair(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), cmp);
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    // Skip stale candidates: the pair at `pos` changed since it was queued.
    auto it = merges_.find(pairKey(left.id, right.id));
    if (it == merges_.end() || it->second.newId != top.newId) continue;
    left.id = top.newId;
    right.alive = false;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) pushPair(left.prev);
    pushPair(top.pos);
  }
  ids.clear();
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    ids.push_back(symbols[static_cast<size_t>(i)].id);
  }
}

}  // namespace mamba
