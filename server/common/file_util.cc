#include "server/common/file_util.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mamba {

StatusOr<std::string> readWholeFile(const std::filesystem::path& path, std::string_view what) {
  const std::string named = std::string(what) + " '" + path.string() + "'";
  std::ifstream in(path, std::ios::binary);
  if (!in) return notFound(named + ": cannot open (" + std::strerror(errno) + ")");
  // A directory opens (and reads as empty) through a filebuf.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return invalidArgument(named + ": is a directory, not a file");
  std::ostringstream text;
  text << in.rdbuf();  // an empty file sets text's failbit: not an error
  if (in.bad() || text.bad()) return dataLoss(named + ": read error");
  return std::move(text).str();
}

}  // namespace mamba
