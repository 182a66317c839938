#include "client/flag_file.h"

#include <fstream>
#include <sstream>

#include "client/cli_error.h"

namespace mamba::client {

std::string readFlagFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError(flag + ": cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace mamba::client
