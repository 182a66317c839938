#include "server/tokenizer/tokenizer.h"


#include <nlohmann/json.hpp>

#include "server/common/file_util.h"
#include "server/tokenizer/added_vocabulary.h"
#include "server/tokenizer/bpe_model.h"
#include "server/tokenizer/byte_level.h"
#include "server/tokenizer/json_fields.h"
#include "server/tokenizer/normalizer.h"
#include "server/tokenizer/pre_tokenizer.h"
#include "server/common/utf8.h"

namespace mamba {
namespace {

enum : uint8_t {
  kKnown = 1,
  kSpecial = 2,        // the added token at this id is special (isSpecial)
  kSkipOnDecode = 4,   // HF's decode(skip_special_tokens=True) drops it
};

const std::string& emptyString() {
  static const std::string empty;
  return empty;
}

Status checkDecoder(const nlohmann::json& root) {
  const nlohmann::json* decoder = json_fields::find(root, "decoder");
  if (decoder == nullptr) {
    return json_fields::fieldError("decoder", "missing (supported: ByteLevel)");
  }
  MAMBA_ASSIGN_OR_RETURN(std::string type, json_fields::getType(*decoder, "decoder"));
  if (type != "ByteLevel") {
    return json_fields::fieldError("decoder.type",
                                   "unsupported decoder \"" + type + "\" (supported: ByteLevel)");
  }
  return Status::ok();
}

}  // namespace

struct Tokenizer::Impl {
  explicit Impl(BpeModel m) : model(std::move(m)) {}

  BpeModel model;
  Normalizer normalizer;
  PreTokenizer preTokenizer;
  AddedVocabulary added;
  std::vector<std::string> tokenBytes;  // by id; empty for unknown ids
  std::vector<uint8_t> flags;           // by id; kKnown | kSpecial | kSkipOnDecode

  static StatusOr<std::unique_ptr<Impl>> parse(const nlohmann::json& root);
  void buildTables();
  void encodePiece(std::string_view piece, std::vector<int32_t>& ids) const;
};

StatusOr<std::unique_ptr<Tokenizer::Impl>> Tokenizer::Impl::parse(const nlohmann::json& root) {
  if (!root.is_object()) return invalidArgument("expected a JSON object at the top level");
  const nlohmann::json* modelSpec = json_fields::find(root, "model");
  if (modelSpec == nullptr) return json_fields::fieldError("model", "missing");
  MAMBA_ASSIGN_OR_RETURN(std::string modelType, json_fields::getType(*modelSpec, "model"));
  if (modelType != "BPE") {
    return json_fields::fieldError("model.type", "unsupported model type \"" + modelType +
                                                     "\" (supported: BPE)");
  }
  MAMBA_ASSIGN_OR_RETURN(Normalizer normalizer,
                         Normalizer::fromJson(json_fields::find(root, "normalizer"), "normalizer"));
  MAMBA_ASSIGN_OR_RETURN(
      PreTokenizer preTokenizer,
      PreTokenizer::fromJson(json_fields::find(root, "pre_tokenizer"), "pre_tokenizer"));
  MAMBA_RETURN_IF_ERROR(checkDecoder(root));
  MAMBA_ASSIGN_OR_RETURN(BpeModel model, BpeModel::fromJson(*modelSpec, "model"));
  auto impl = std::make_unique<Impl>(std::move(model));
  impl->normalizer = std::move(normalizer);
  impl->preTokenizer = std::move(preTokenizer);
  MAMBA_ASSIGN_OR_RETURN(impl->added,
                         AddedVocabulary::fromJson(json_fields::find(root, "added_tokens"),
                                                   "added_tokens", impl->model, impl->normalizer));
  impl->buildTables();
  return impl;
}

void Tokenizer::Impl::buildTables() {
  const int32_t size = std::max(model.maxId(), added.maxId()) + 1;
  tokenBytes.assign(static_cast<size_t>(size), std::string());
  flags.assign(static_cast<size_t>(size), 0);
  for (int32_t id = 0; id < size; ++id) {
    // HF's decode: the added token's (normalized) string first, then the model vocab; the
    // skip test looks that string up among the special contents.
    const AddedToken* a = added.tokenForId(id);
    const std::string* token = a != nullptr ? added.decodeForm(id) : model.idToToken(id);
    if (token == nullptr) continue;
    tokenBytes[static_cast<size_t>(id)] = byte_level::decodeToken(*token);
    uint8_t f = kKnown;
    if (a != nullptr && a->special) f |= kSpecial;
    if (added.isSpecialContent(*token)) f |= kSkipOnDecode;
    flags[static_cast<size_t>(id)] = f;
  }
}

void Tokenizer::Impl::encodePiece(std::string_view piece, std::vector<int32_t>& ids) const {
  // HF's extract_and_normalize, pre_tokenize and model tokenize on one raw piece.
  std::string normalized = normalizer.normalize(piece);
  std::vector<AddedVocabulary::Segment> segments;
  added.splitNormalized(normalized, segments);
  std::vector<std::string> preTokens;
  for (const AddedVocabulary::Segment& s : segments) {
    if (s.id >= 0) {
      ids.push_back(s.id);
      continue;
    }
    preTokens.clear();
    preTokenizer.split(s.text, preTokens);
    for (const std::string& word : preTokens) model.tokenize(word, ids);
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::fromFile(const std::string& path) {
  MAMBA_ASSIGN_OR_RETURN(std::string json, readWholeFile(path, "tokenizer file"));
  return fromJson(json, path);
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::fromJson(std::string_view json,
                                                         const std::string& origin) {
  try {
    nlohmann::json root = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
    if (root.is_discarded()) {
      // Parse again with exceptions for the position and reason of the error.
      try {
        nlohmann::json ignored = nlohmann::json::parse(json);
      } catch (const nlohmann::json::parse_error& e) {
        return invalidArgument(origin + ": malformed JSON: " + e.what());
      }
      return invalidArgument(origin + ": malformed JSON");
    }
    auto impl = Impl::parse(root);
    if (!impl.isOk()) return impl.status().withContext(origin);
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl).value()));
  } catch (const std::exception& e) {
    return internalError(origin + ": unexpected error while loading the tokenizer: " + e.what());
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::string repaired;
  if (!utf8::isValid(text)) {
    repaired = utf8::replaceInvalid(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<AddedVocabulary::Segment> segments;
  impl_->added.splitRaw(text, segments);
  for (const AddedVocabulary::Segment& s : segments) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else {
      impl_->encodePiece(s.text, ids);
    }
  }
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skipSpecial) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || id >= vocabSize()) continue;
    const uint8_t f = impl_->flags[static_cast<size_t>(id)];
    if (!(f & kKnown) || (skipSpecial && (f & kSkipOnDecode))) continue;
    out.append(impl_->tokenBytes[static_cast<size_t>(id)]);
  }
  return out;
}

const std::string& Tokenizer::tokenBytes(int32_t id) const {
  if (id < 0 || id >= vocabSize()) return emptyString();
  return impl_->tokenBytes[static_cast<size_t>(id)];
}

int32_t Tokenizer::vocabSize() const { return static_cast<int32_t>(impl_->flags.size()); }

std::optional<int32_t> Tokenizer::tokenToId(std::string_view token) const {
  if (auto id = impl_->added.tokenToId(token)) return id;
  return impl_->model.tokenToId(token);
}

bool Tokenizer::isSpecial(int32_t id) const {
  if (id < 0 || id >= vocabSize()) return false;
  return (impl_->flags[static_cast<size_t>(id)] & kSpecial) != 0;
}

}  // namespace mamba
