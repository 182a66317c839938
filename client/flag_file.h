// Files that mamba-cli's flags name (--token-file, --tls-ca): read whole, errors naming the flag.
#pragma once

#include <string>

namespace mamba::client {

// The bytes of `path`; CliError "FLAG: cannot open 'PATH'" when it cannot be opened.
std::string readFlagFile(const std::string& path, const std::string& flag);

}  // namespace mamba::client
