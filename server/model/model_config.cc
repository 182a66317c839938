#include "server/model/model_config.h"

#include <cmath>
#include <numeric>

#include <nlohmann/json.hpp>

#include "server/common/file_util.h"

namespace mamba {
namespace {

using Json = nlohmann::json;

// HF v4 writes bare `Infinity` / `NaN` (not strict JSON). Quote such tokens outside strings so
// that nlohmann parses them; readDouble() turns the strings back into numbers.
std::string quoteNonFiniteTokens(const std::string& in) {
  std::string out;
  out.reserve(in.size() + 16);
  bool inString = false;
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (inString) {
      out += c;
      if (c == '\\' && i + 1 < in.size()) out += in[++i];
      else if (c == '"') inString = false;
      continue;
    }
    if (c == '"') { inString = true; out += c; continue; }
    bool matched = false;
    for (const char* tok : {"-Infinity", "Infinity", "NaN"}) {
      size_t n = std::char_traits<char>::length(tok);
      if (in.compare(i, n, tok) == 0) {
        out += '"'; out += tok; out += '"';
        i += n - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += c;
  }
  return out;
}

class Reader {
 public:
  Reader(const Json& j, std::string origin) : j_(j), origin_(std::move(origin)) {}

  Status error(const std::string& key, const std::string& what) const {
    return invalidArgument(origin_ + ": field '" + key + "' " + what);
  }
  bool has(const std::string& key) const { return j_.contains(key) && !j_.at(key).is_null(); }

  StatusOr<int64_t> integer(const std::string& key) const {
    if (!has(key)) return error(key, "is missing");
    const Json& v = j_.at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
      return static_cast<int64_t>(v.get<double>());
    }
    return error(key, "must be an integer, got " + v.dump());
  }
  StatusOr<int64_t> integerOr(const std::string& key, int64_t def) const {
    return has(key) ? integer(key) : StatusOr<int64_t>(def);
  }
  StatusOr<std::optional<int64_t>> optionalInteger(const std::string& key) const {
    if (!has(key)) return std::optional<int64_t>();
    MAMBA_ASSIGN_OR_RETURN(int64_t v, integer(key));
    return std::optional<int64_t>(v);
  }
  StatusOr<bool> boolean(const std::string& key, bool def) const {
    if (!has(key)) return def;
    const Json& v = j_.at(key);
    if (!v.is_boolean()) return error(key, "must be a boolean, got " + v.dump());
    return v.get<bool>();
  }
  static StatusOr<double> toDouble(const Json& v) {
    if (v.is_number()) return v.get<double>();
    if (v.is_string()) {
      const std::string s = v.get<std::string>();
      if (s == "Infinity") return std::numeric_limits<double>::infinity();
      if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    }
    if (v.is_object() && v.contains("__float__")) return toDouble(v.at("__float__"));
    return invalidArgument("not a number: " + v.dump());
  }
  StatusOr<double> number(const std::string& key, double def) const {
    if (!has(key)) return def;
    auto r = toDouble(j_.at(key));
    if (!r.isOk()) return error(key, r.status().message());
    return r;
  }
  StatusOr<std::string> string(const std::string& key, const std::string& def) const {
    if (!has(key)) return def;
    if (!j_.at(key).is_string()) return error(key, "must be a string");
    return j_.at(key).get<std::string>();
  }
  const Json& raw(const std::string& key) const { return j_.at(key); }
  Reader sub(const std::string& key) const { return Reader(j_.at(key), origin_ + ": " + key); }
  const std::string& origin() const { return origin_; }

 private:
  const Json& j_;
  std::string origin_;
};

Status parseHf(const Reader& r, ModelConfig& c) {
  c.format = CheckpointFormat::kHuggingFace;
  MAMBA_ASSIGN_OR_RETURN(c.dModel, r.integer("hidden_size"));
  MAMBA_ASSIGN_OR_RETURN(c.nLayer, r.integer("num_hidden_layers"));
  MAMBA_ASSIGN_OR_RETURN(c.vocabSize, r.integer("vocab_size"));
  MAMBA_ASSIGN_OR_RETURN(c.headDim, r.integer("head_dim"));
  MAMBA_ASSIGN_OR_RETURN(c.nHeads, r.integer("num_heads"));
  MAMBA_ASSIGN_OR_RETURN(c.nGroups, r.integer("n_groups"));
  MAMBA_ASSIGN_OR_RETURN(c.convKernel, r.integer("conv_kernel"));
  MAMBA_ASSIGN_OR_RETURN(c.chunkSize, r.integer("chunk_size"));
  MAMBA_ASSIGN_OR_RETURN(double expand, r.number("expand", 2.0));
  c.dInner = static_cast<int64_t>(expand * static_cast<double>(c.dModel));
  if (r.has("intermediate_size")) {
    MAMBA_ASSIGN_OR_RETURN(c.dInner, r.integer("intermediate_size"));
  }
  MAMBA_ASSIGN_OR_RETURN(int64_t n, r.integer("state_size"));
  c.stateSizes.assign(static_cast<size_t>(std::max<int64_t>(c.nLayer, 0)), n);
  if (r.has("state_sizes")) {
    const Json& s = r.raw("state_sizes");
    if (!s.is_array() || static_cast<int64_t>(s.size()) != c.nLayer) {
      return r.error("state_sizes", "must be a list of num_hidden_layers=" + std::to_string(c.nLayer) + " integers");
    }
    for (size_t i = 0; i < s.size(); ++i) {
      if (!s[i].is_number_integer()) return r.error("state_sizes", "entry " + std::to_string(i) + " is not an integer");
      c.stateSizes[i] = s[i].get<int64_t>();
    }
  }
  MAMBA_ASSIGN_OR_RETURN(c.normEps, r.number("layer_norm_epsilon", 1e-5));
  if (r.has("time_step_limit")) {
    const Json& lim = r.raw("time_step_limit");
    if (!lim.is_array() || lim.size() != 2) return r.error("time_step_limit", "must be [min, max]");
    auto lo = Reader::toDouble(lim[0]);
    auto hi = Reader::toDouble(lim[1]);
    if (!lo.isOk() || !hi.isOk()) return r.error("time_step_limit", "entries must be numbers or Infinity");
    c.dtMin = *lo;
    c.dtMax = *hi;
  }
  MAMBA_ASSIGN_OR_RETURN(c.convBias, r.boolean("use_conv_bias", true));
  MAMBA_ASSIGN_OR_RETURN(c.projBias, r.boolean("use_bias", false));
  MAMBA_ASSIGN_OR_RETURN(c.tieEmbeddings, r.boolean("tie_word_embeddings", false));
  MAMBA_ASSIGN_OR_RETURN(c.residualInFp32, r.boolean("residual_in_fp32", true));
  MAMBA_ASSIGN_OR_RETURN(std::string act, r.string("hidden_act", "silu"));
  if (act != "silu") return r.error("hidden_act", "must be \"silu\", got \"" + act + "\"");
  MAMBA_ASSIGN_OR_RETURN(c.rawVocabSize, r.integerOr("mamba_raw_vocab_size", c.vocabSize));
  MAMBA_ASSIGN_OR_RETURN(c.bosTokenId, r.optionalInteger("bos_token_id"));
  MAMBA_ASSIGN_OR_RETURN(c.eosTokenId, r.optionalInteger("eos_token_id"));
  MAMBA_ASSIGN_OR_RETURN(c.padTokenId, r.optionalInteger("pad_token_id"));
  return Status::ok();
}

Status parseMambaSsm(const Reader& r, ModelConfig& c) {
  c.format = CheckpointFormat::kMambaSsm;
  MAMBA_ASSIGN_OR_RETURN(c.dModel, r.integer("d_model"));
  MAMBA_ASSIGN_OR_RETURN(c.nLayer, r.integer("n_layer"));
  MAMBA_ASSIGN_OR_RETURN(int64_t dInter, r.integerOr("d_intermediate", 0));
  if (dInter != 0) return r.error("d_intermediate", "must be 0 (GatedMLP blocks are not supported), got " + std::to_string(dInter));
  if (r.has("attn_layer_idx") && !r.raw("attn_layer_idx").empty()) {
    return r.error("attn_layer_idx", "must be empty (hybrid attention layers are not supported)");
  }
  MAMBA_ASSIGN_OR_RETURN(bool rmsNorm, r.boolean("rms_norm", true));
  if (!rmsNorm) return r.error("rms_norm", "must be true (LayerNorm blocks are not supported)");
  MAMBA_ASSIGN_OR_RETURN(int64_t rawVocab, r.integer("vocab_size"));
  MAMBA_ASSIGN_OR_RETURN(int64_t mult, r.integerOr("pad_vocab_size_multiple", 8));
  if (mult <= 0) return r.error("pad_vocab_size_multiple", "must be positive");
  c.rawVocabSize = rawVocab;
  c.vocabSize = rawVocab % mult == 0 ? rawVocab : rawVocab + mult - rawVocab % mult;
  MAMBA_ASSIGN_OR_RETURN(c.tieEmbeddings, r.boolean("tie_embeddings", true));
  MAMBA_ASSIGN_OR_RETURN(c.residualInFp32, r.boolean("residual_in_fp32", true));
  if (!r.has("ssm_cfg") || !r.raw("ssm_cfg").is_object()) return r.error("ssm_cfg", "is missing (must select \"layer\": \"Mamba2\")");
  Reader s = r.sub("ssm_cfg");
  MAMBA_ASSIGN_OR_RETURN(std::string layer, s.string("layer", "Mamba1"));
  if (layer != "Mamba2") return s.error("layer", "must be \"Mamba2\", got \"" + layer + "\"");
  MAMBA_ASSIGN_OR_RETURN(int64_t n, s.integerOr("d_state", 128));
  MAMBA_ASSIGN_OR_RETURN(c.convKernel, s.integerOr("d_conv", 4));
  MAMBA_ASSIGN_OR_RETURN(double expand, s.number("expand", 2.0));
  MAMBA_ASSIGN_OR_RETURN(c.headDim, s.integerOr("headdim", 64));
  MAMBA_ASSIGN_OR_RETURN(c.nGroups, s.integerOr("ngroups", 1));
  MAMBA_ASSIGN_OR_RETURN(c.chunkSize, s.integerOr("chunk_size", 256));
  MAMBA_ASSIGN_OR_RETURN(c.convBias, s.boolean("conv_bias", true));
  MAMBA_ASSIGN_OR_RETURN(c.projBias, s.boolean("bias", false));
  MAMBA_ASSIGN_OR_RETURN(bool gatedNorm, s.boolean("rmsnorm", true));
  if (!gatedNorm) return s.error("rmsnorm", "must be true (the ungated variant is not supported)");
  MAMBA_ASSIGN_OR_RETURN(bool before, s.boolean("norm_before_gate", false));
  if (before) return s.error("norm_before_gate", "must be false (the published models gate first)");
  MAMBA_ASSIGN_OR_RETURN(bool dHasHdim, s.boolean("D_has_hdim", false));
  if (dHasHdim) return s.error("D_has_hdim", "must be false (per-channel D is not supported)");
  c.dInner = static_cast<int64_t>(expand * static_cast<double>(c.dModel));
  if (s.has("d_ssm")) {
    MAMBA_ASSIGN_OR_RETURN(int64_t dSsm, s.integer("d_ssm"));
    if (dSsm != c.dInner) return s.error("d_ssm", "must equal expand*d_model (the d_mlp branch is not supported)");
  }
  if (s.has("dt_limit")) {
    const Json& lim = s.raw("dt_limit");
    if (!lim.is_array() || lim.size() != 2) return s.error("dt_limit", "must be [min, max]");
    auto lo = Reader::toDouble(lim[0]);
    auto hi = Reader::toDouble(lim[1]);
    if (!lo.isOk() || !hi.isOk()) return s.error("dt_limit", "entries must be numbers");
    c.dtMin = *lo;
    c.dtMax = *hi;
  }
  c.nHeads = c.headDim > 0 ? c.dInner / c.headDim : 0;
  c.stateSizes.assign(static_cast<size_t>(std::max<int64_t>(c.nLayer, 0)), n);
  if (s.has("state_sizes")) {
    const Json& v = s.raw("state_sizes");
    if (!v.is_array() || static_cast<int64_t>(v.size()) != c.nLayer) return s.error("state_sizes", "must list n_layer integers");
    for (size_t i = 0; i < v.size(); ++i) c.stateSizes[i] = v[i].get<int64_t>();
  }
  c.eosTokenId = 0;  // GPT-NeoX <|endoftext|>, the tokenizer of the published models
  return Status::ok();
}

}  // namespace

int64_t ModelConfig::maxStateSize() const {
  int64_t m = 0;
  for (int64_t n : stateSizes) m = std::max(m, n);
  return m;
}

bool ModelConfig::uniformStateSize() const {
  for (int64_t n : stateSizes) {
    if (n != stateSizes.front()) return false;
  }
  return true;
}

int64_t ModelConfig::stateBytesPerSequence(int64_t ssmElem, int64_t convElem) const {
  int64_t total = 0;
  for (int64_t l = 0; l < nLayer; ++l) {
    total += nHeads * headDim * stateSize(l) * ssmElem + convDim(l) * convKernel * convElem;
  }
  return total;
}

int64_t ModelConfig::parameterCount() const {
  int64_t p = vocabSize * dModel * (tieEmbeddings ? 1 : 2) + dModel;  // embeddings, lm_head, norm_f
  for (int64_t l = 0; l < nLayer; ++l) {
    p += dModel;                                               // block norm
    p += inProjDim(l) * dModel + (projBias ? inProjDim(l) : 0);  // in_proj
    p += convDim(l) * convKernel + (convBias ? convDim(l) : 0);  // conv1d
    p += 3 * nHeads + dInner;                                  // dt_bias, A_log, D, gated norm
    p += dModel * dInner + (projBias ? dModel : 0);            // out_proj
  }
  return p;
}

Status ModelConfig::validate() const {
  auto bad = [](const std::string& m) { return invalidArgument("invalid model config: " + m); };
  if (dModel <= 0) return bad("hidden_size must be positive");
  if (nLayer <= 0) return bad("num_hidden_layers must be positive");
  if (vocabSize <= 0) return bad("vocab_size must be positive");
  if (rawVocabSize <= 0 || rawVocabSize > vocabSize) return bad("raw vocab size must be in [1, vocab_size]");
  if (headDim <= 0 || nHeads <= 0) return bad("head_dim and num_heads must be positive");
  if (nHeads * headDim != dInner) {
    return bad("num_heads*head_dim = " + std::to_string(nHeads * headDim) + " but expand*hidden_size = " + std::to_string(dInner));
  }
  if (nGroups <= 0 || nHeads % nGroups != 0) return bad("n_groups must divide num_heads (" + std::to_string(nHeads) + ")");
  if (dInner % nGroups != 0) return bad("n_groups must divide the inner width");
  if (convKernel < 1 || convKernel > 16) return bad("conv_kernel must be in [1, 16]");
  if (chunkSize < 1 || chunkSize > 4096) return bad("chunk_size must be in [1, 4096]");
  if (static_cast<int64_t>(stateSizes.size()) != nLayer) return bad("one state size per layer is required");
  for (size_t i = 0; i < stateSizes.size(); ++i) {
    if (stateSizes[i] < 1 || stateSizes[i] > 1024) {
      return bad("state size of layer " + std::to_string(i) + " must be in [1, 1024], got " + std::to_string(stateSizes[i]));
    }
  }
  if (!(normEps > 0) || !std::isfinite(normEps)) return bad("layer_norm_epsilon must be positive");
  if (!(dtMin >= 0) || !(dtMax > dtMin)) return bad("time_step_limit must satisfy 0 <= min < max");
  return Status::ok();
}

StatusOr<ModelConfig> ModelConfig::fromJson(const std::string& text, const std::string& origin) {
  Json j = Json::parse(quoteNonFiniteTokens(text), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalidArgument(origin + ": not a JSON object");
  Reader r(j, origin);
  ModelConfig c;
  if (r.has("model_type")) {
    MAMBA_ASSIGN_OR_RETURN(std::string type, r.string("model_type", ""));
    if (type != "mamba2") return r.error("model_type", "must be \"mamba2\", got \"" + type + "\"");
    MAMBA_RETURN_IF_ERROR(parseHf(r, c));
  } else if (r.has("d_model")) {
    MAMBA_RETURN_IF_ERROR(parseMambaSsm(r, c));
  } else {
    return invalidArgument(origin + ": neither a Hugging Face mamba2 config (model_type) nor a mamba_ssm config (d_model)");
  }
  MAMBA_RETURN_IF_ERROR(c.validate().withContext(origin));
  return c;
}

StatusOr<ModelConfig> ModelConfig::fromFile(const std::string& path) {
  MAMBA_ASSIGN_OR_RETURN(std::string text, readWholeFile(path, "config file"));
  return fromJson(text, path);
}

std::string ModelConfig::toHfJson() const {
  Json j;
  j["model_type"] = "mamba2";
  j["architectures"] = {"Mamba2ForCausalLM"};
  j["hidden_size"] = dModel;
  j["num_hidden_layers"] = nLayer;
  j["vocab_size"] = vocabSize;
  j["head_dim"] = headDim;
  j["num_heads"] = nHeads;
  j["n_groups"] = nGroups;
  // transformers v5 validates `expand` as an int; write a float only when it is fractional.
  if (dInner % dModel == 0) {
    j["expand"] = dInner / dModel;
  } else {
    j["expand"] = static_cast<double>(dInner) / static_cast<double>(dModel);
  }
  j["intermediate_size"] = dInner;
  j["conv_kernel"] = convKernel;
  j["chunk_size"] = chunkSize;
  j["state_size"] = maxStateSize();
  if (!uniformStateSize()) j["state_sizes"] = stateSizes;
  j["layer_norm_epsilon"] = normEps;
  j["time_step_limit"] = {dtMin, std::isinf(dtMax) ? Json("Infinity") : Json(dtMax)};
  j["use_conv_bias"] = convBias;
  j["use_bias"] = projBias;
  j["tie_word_embeddings"] = tieEmbeddings;
  j["residual_in_fp32"] = residualInFp32;
  j["hidden_act"] = "silu";
  j["rms_norm"] = true;
  if (rawVocabSize != vocabSize) j["mamba_raw_vocab_size"] = rawVocabSize;
  if (bosTokenId) j["bos_token_id"] = *bosTokenId;
  if (eosTokenId) j["eos_token_id"] = *eosTokenId;
  if (padTokenId) j["pad_token_id"] = *padTokenId;
  std::string s = j.dump(2);
  // Python's json (and transformers) read a bare Infinity; write it that way.
  const std::string quoted = "\"Infinity\"";
  for (size_t p = s.find(quoted); p != std::string::npos; p = s.find(quoted)) s.replace(p, quoted.size(), "Infinity");
  return s;
}

}  // namespace mamba
