#include "pruning/state_scores.h"

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "server/common/file_util.h"

namespace mamba::pruning {
namespace {

using Json = nlohmann::json;
constexpr const char* kFormat = "mamba-pruning-scores/1";

Json tableToJson(const ScoreTable& t) {
  Json layers = Json::array();
  for (const LayerScores& l : t) {
    Json groups = Json::array();
    for (int64_t g = 0; g < l.groups; ++g) {
      Json row = Json::array();
      for (int64_t s = 0; s < l.stateSize; ++s) row.push_back(l.at(g, s));
      groups.push_back(std::move(row));
    }
    layers.push_back(std::move(groups));
  }
  return layers;
}

StatusOr<ScoreTable> tableFromJson(const Json& j, const std::string& where) {
  if (!j.is_array()) return invalidArgument(where + ": must be a [layer][group][state] array");
  ScoreTable t;
  for (size_t l = 0; l < j.size(); ++l) {
    const Json& groups = j[l];
    const std::string lw = where + "[" + std::to_string(l) + "]";
    if (!groups.is_array() || groups.empty() || !groups[0].is_array() || groups[0].empty()) {
      return invalidArgument(lw + ": must be a non-empty [group][state] array");
    }
    LayerScores ls = LayerScores::zeros(static_cast<int64_t>(groups.size()), static_cast<int64_t>(groups[0].size()));
    for (size_t g = 0; g < groups.size(); ++g) {
      if (!groups[g].is_array() || static_cast<int64_t>(groups[g].size()) != ls.stateSize) {
        return invalidArgument(lw + ": every group must list " + std::to_string(ls.stateSize) + " states");
      }
      for (size_t s = 0; s < groups[g].size(); ++s) {
        if (!groups[g][s].is_number()) return invalidArgument(lw + ": scores must be numbers");
        ls.at(static_cast<int64_t>(g), static_cast<int64_t>(s)) = groups[g][s].get<double>();
      }
    }
    t.push_back(std::move(ls));
  }
  return t;
}

}  // namespace

LayerScores LayerScores::zeros(int64_t groups, int64_t stateSize) {
  LayerScores l;
  l.groups = groups;
  l.stateSize = stateSize;
  l.values.assign(static_cast<size_t>(groups * stateSize), 0.0);
  return l;
}

StatusOr<const ScoreTable*> StateScores::table(const std::string& method) const {
  auto it = methods.find(method);
  if (it != methods.end()) return &it->second;
  std::string have;
  for (const auto& [name, t] : methods) have += (have.empty() ? "" : ", ") + name;
  return invalidArgument("no scores for method '" + method + "' (have: " + have + ")");
}

std::string StateScores::toJson() const {
  Json j;
  j["format"] = kFormat;
  j["model"] = modelPath;
  j["corpus"] = {{"source", corpusSource}, {"fnv1a64", corpusHash}, {"tokens", tokens}};
  j["calibration"] = {{"context", context}, {"batch", batch}, {"random_seed", randomSeed}, {"seconds", seconds}};
  Json m = Json::object();
  for (const auto& [name, t] : methods) m[name] = tableToJson(t);
  j["scores"] = std::move(m);
  j["head_delta"] = headDelta;
  return j.dump(1);
}

StatusOr<StateScores> StateScores::fromJson(const std::string& text, const std::string& origin) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalidArgument(origin + ": not a JSON object");
  if (j.value("format", "") != kFormat) return invalidArgument(origin + ": format must be \"" + std::string(kFormat) + "\"");
  StateScores s;
  try {
    s.modelPath = j.value("model", "");
    const Json& c = j.at("corpus");
    s.corpusSource = c.value("source", "");
    s.corpusHash = c.value("fnv1a64", "");
    s.tokens = c.value("tokens", int64_t{0});
    const Json& cal = j.at("calibration");
    s.context = cal.value("context", int64_t{0});
    s.batch = cal.value("batch", int64_t{0});
    s.randomSeed = cal.value("random_seed", uint64_t{0});
    s.seconds = cal.value("seconds", 0.0);
    for (const auto& [name, t] : j.at("scores").items()) {
      MAMBA_ASSIGN_OR_RETURN(s.methods[name], tableFromJson(t, origin + ": scores." + name));
    }
    if (j.contains("head_delta")) s.headDelta = j["head_delta"].get<std::vector<std::vector<double>>>();
  } catch (const Json::exception& e) {
    return invalidArgument(origin + ": " + e.what());
  }
  if (s.methods.empty()) return invalidArgument(origin + ": no scores");
  return s;
}

Status StateScores::save(const std::string& path) const {
  std::ofstream out(path);
  out << toJson() << "\n";
  if (!out) return internalError("cannot write " + path);
  return Status::ok();
}

StatusOr<StateScores> StateScores::load(const std::string& path) {
  MAMBA_ASSIGN_OR_RETURN(std::string json, readWholeFile(path, "scores file"));
  return fromJson(json, path);
}

std::string corpusHash(std::span<const int32_t> tokens) {
  uint64_t h = 14695981039346656037ull;
  for (int32_t t : tokens) {
    const uint32_t u = static_cast<uint32_t>(t);
    for (int k = 0; k < 4; ++k) {
      h ^= (u >> (8 * k)) & 0xffu;
      h *= 1099511628211ull;
    }
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace mamba::pruning
