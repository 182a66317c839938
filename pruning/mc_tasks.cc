#include "pruning/mc_tasks.h"

#include <algorithm>
#include <fstream>

#include <nlohmann/json.hpp>

namespace mamba::pruning {
namespace {

using Json = nlohmann::json;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string strip(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && isSpace(s[a])) ++a;
  while (b > a && isSpace(s[b - 1])) --b;
  return std::string(s.substr(a, b - a));
}

// Python's str.replace: non-overlapping, left to right, one pass.
std::string replaceAll(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s.compare(i, from.size(), from) == 0) {
      out += to;
      i += from.size();
    } else {
      out += s[i++];
    }
  }
  return out;
}

std::string str(const Json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string()) throw std::runtime_error(where + ": missing string field '" + key + "'");
  return j[key].get<std::string>();
}

// choices as {"text": [...], "label": [...]} (HF) or [{"text", "label"}, ...] (AI2).
void readChoices(const Json& choices, std::vector<std::string>& text, std::vector<std::string>& labels,
                 const std::string& where) {
  if (choices.is_object()) {
    text = choices.at("text").get<std::vector<std::string>>();
    labels = choices.at("label").get<std::vector<std::string>>();
  } else if (choices.is_array()) {
    for (const Json& c : choices) {
      text.push_back(c.at("text").get<std::string>());
      labels.push_back(c.at("label").get<std::string>());
    }
  } else {
    throw std::runtime_error(where + ": 'choices' must be an object or a list");
  }
  if (text.empty() || text.size() != labels.size()) throw std::runtime_error(where + ": choices need one label per text");
}

int64_t labelIndex(const std::vector<std::string>& labels, const std::string& key, const std::string& where) {
  auto it = std::find(labels.begin(), labels.end(), key);
  if (it == labels.end()) throw std::runtime_error(where + ": answerKey '" + key + "' is not a choice label");
  return it - labels.begin();
}

int64_t intLabel(const Json& v, const std::string& where) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_string()) return std::stoll(v.get<std::string>());
  throw std::runtime_error(where + ": 'label' must be an integer");
}

// ARC / OBQA: question text (HF: a string or question_stem; AI2: question.stem) and choices.
McDoc questionDoc(const Json& j, bool arcPrompt, const std::string& where) {
  std::string question;
  std::vector<std::string> text, labels;
  if (j.contains("question") && j["question"].is_object()) {
    question = str(j["question"], "stem", where);
    readChoices(j["question"].at("choices"), text, labels, where);
  } else {
    question = j.contains("question_stem") ? str(j, "question_stem", where) : str(j, "question", where);
    readChoices(j.at("choices"), text, labels, where);
  }
  std::string key = str(j, "answerKey", where);
  if (!arcPrompt) key.erase(0, std::min(key.find_first_not_of(" \t\n\r\v\f"), key.size()));  // lstrip
  McDoc d;
  d.context = arcPrompt ? "Question: " + question + "\nAnswer:" : question;
  d.choices = std::move(text);
  d.gold = labelIndex(labels, key, where);
  return d;
}

}  // namespace

StatusOr<McTask> parseMcTask(const std::string& name) {
  if (name == "piqa") return McTask::kPiqa;
  if (name == "arc_easy") return McTask::kArcEasy;
  if (name == "hellaswag") return McTask::kHellaSwag;
  if (name == "openbookqa") return McTask::kOpenBookQa;
  return invalidArgument("task must be piqa, arc_easy, hellaswag or openbookqa, got '" + name + "'");
}

const char* mcTaskName(McTask t) {
  switch (t) {
    case McTask::kPiqa: return "piqa";
    case McTask::kArcEasy: return "arc_easy";
    case McTask::kHellaSwag: return "hellaswag";
    case McTask::kOpenBookQa: return "openbookqa";
  }
  return "?";
}

std::string pythonCapitalize(std::string_view text) {
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (i == 0 && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (i > 0 && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string hellaswagPreprocess(std::string_view text) {
  std::string s = replaceAll(strip(text), " [title]", ". ");
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '[') {
      size_t close = i + 1;
      while (close < s.size() && s[close] != ']' && s[close] != '\n') ++close;  // '.' does not match '\n'
      if (close < s.size() && s[close] == ']') {
        i = close;
        continue;
      }
    }
    out += s[i];
  }
  return replaceAll(out, "  ", " ");
}

StatusOr<McDoc> parseMcDoc(McTask task, std::string_view line, const std::string& where) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return invalidArgument(where + ": not a JSON object");
  McDoc d;
  try {
    switch (task) {
      case McTask::kPiqa:
        d.context = "Question: " + str(j, "goal", where) + "\nAnswer:";
        d.choices = {str(j, "sol1", where), str(j, "sol2", where)};
        d.gold = intLabel(j.at("label"), where);
        break;
      case McTask::kArcEasy:
        d = questionDoc(j, /*arcPrompt=*/true, where);
        break;
      case McTask::kOpenBookQa:
        d = questionDoc(j, /*arcPrompt=*/false, where);
        break;
      case McTask::kHellaSwag: {
        const std::string ctx = str(j, "ctx_a", where) + " " + pythonCapitalize(str(j, "ctx_b", where));
        d.context = hellaswagPreprocess(str(j, "activity_label", where) + ": " + ctx);
        for (const std::string& e : j.at("endings").get<std::vector<std::string>>()) d.choices.push_back(hellaswagPreprocess(e));
        d.gold = intLabel(j.at("label"), where);
        break;
      }
    }
  } catch (const std::exception& e) {
    std::string msg = e.what();
    return invalidArgument(msg.rfind(where, 0) == 0 ? msg : where + ": " + msg);
  }
  if (d.choices.empty()) return invalidArgument(where + ": no choices");
  if (d.gold < 0 || d.gold >= static_cast<int64_t>(d.choices.size())) {
    return invalidArgument(where + ": gold index " + std::to_string(d.gold) + " out of range");
  }
  return d;
}

StatusOr<std::vector<McDoc>> loadMcDocs(McTask task, const std::string& path, int64_t limit) {
  std::ifstream in(path);
  if (!in) return notFound("cannot open " + path);
  std::vector<McDoc> docs;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (strip(line).empty()) continue;
    MAMBA_ASSIGN_OR_RETURN(McDoc d, parseMcDoc(task, line, path + ":" + std::to_string(n)));
    docs.push_back(std::move(d));
    if (limit > 0 && static_cast<int64_t>(docs.size()) >= limit) break;
  }
  if (docs.empty()) return invalidArgument(path + ": no documents");
  return docs;
}

EncodedRequest encodeRequest(const std::string& contextIn, const std::string& continuationIn, const EncodeFn& encode,
                             int32_t prefixToken) {
  EncodedRequest r;
  if (contextIn.empty()) {
    r.context = {prefixToken};
    r.continuation = encode(continuationIn);
    return r;
  }
  size_t cut = contextIn.size();
  while (cut > 0 && isSpace(contextIn[cut - 1])) --cut;
  const std::string context = contextIn.substr(0, cut);
  const std::string continuation = contextIn.substr(cut) + continuationIn;
  std::vector<int32_t> whole = encode(context + continuation);
  r.context = encode(context);
  const size_t n = std::min(r.context.size(), whole.size());
  r.continuation.assign(whole.begin() + static_cast<long>(n), whole.end());
  return r;
}

int64_t choiceLength(std::string_view s) {
  int64_t n = 0;
  for (size_t i = 0; i < s.size(); ++n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    bool ok = i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    i += ok ? len : 1;
  }
  return n;
}

McPrediction predictChoice(const std::vector<double>& ll, const std::vector<std::string>& choices) {
  McPrediction p;
  double best = 0, bestNorm = 0;
  for (size_t i = 0; i < ll.size(); ++i) {
    const double norm = ll[i] / static_cast<double>(std::max<int64_t>(1, choiceLength(choices[i])));
    if (i == 0 || ll[i] > best) {
      best = ll[i];
      p.pred = static_cast<int64_t>(i);
    }
    if (i == 0 || norm > bestNorm) {
      bestNorm = norm;
      p.predNorm = static_cast<int64_t>(i);
    }
  }
  return p;
}

}  // namespace mamba::pruning
