// Small helpers shared by the mamba-tool command files: Status -> exception at the CLI
// boundary, file reading, tokenizer lookup and the reference text split.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "server/common/file_util.h"
#include "server/common/status.h"
#include "server/tokenizer/tokenizer.h"

namespace mamba::tool {

template <typename T>
T orDie(StatusOr<T> v) {
  if (!v.isOk()) throw StatusError(v.status());
  return std::move(v).value();
}
inline void orDie(const Status& s) {
  if (!s.isOk()) throw StatusError(s);
}

inline std::string readFile(const std::string& path) {
  return orDie(readWholeFile(path, "file"));
}

// MODEL_DIR/tokenizer.json unless `explicitPath` is given.
inline std::unique_ptr<Tokenizer> loadTokenizer(const std::string& modelDir, const std::string& explicitPath) {
  namespace fs = std::filesystem;
  std::string path = explicitPath.empty() ? (fs::path(modelDir) / "tokenizer.json").string() : explicitPath;
  if (!fs::exists(path)) throw StatusError(notFound("no tokenizer: " + path + " does not exist (pass --tokenizer)"));
  return orDie(Tokenizer::fromFile(path));
}

// The reference model's split of a text (models/mamba2-ref/README.md): the held-out part starts
// right after the first '\n' at or after byte floor(0.9·size); "train" is everything before it.
// split: "all" | "train" | "heldout".
inline std::string splitText(const std::string& text, const std::string& split) {
  if (split == "all") return text;
  if (split != "train" && split != "heldout") throw StatusError(invalidArgument("--split must be all, train or heldout"));
  const size_t nl = text.find('\n', (text.size() * 9) / 10);
  const size_t start = nl == std::string::npos ? text.size() : nl + 1;
  return split == "train" ? text.substr(0, start) : text.substr(start);
}

}  // namespace mamba::tool
