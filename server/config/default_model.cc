#include "server/config/default_model.h"

#include <cstdlib>
#include <system_error>

#ifndef MAMBA_CONFIG_SOURCE_DIR
#define MAMBA_CONFIG_SOURCE_DIR ""
#endif
#ifndef MAMBA_CONFIG_INSTALL_PREFIX
#define MAMBA_CONFIG_INSTALL_PREFIX ""
#endif

namespace mamba::config {

namespace fs = std::filesystem;

std::vector<fs::path> defaultModelCandidates(const fs::path& executable) {
  std::vector<fs::path> out;
  if (const char* env = std::getenv("MAMBA_DEFAULT_MODEL"); env && *env) out.emplace_back(env);
  std::error_code ec;
  fs::path dir = fs::weakly_canonical(executable, ec).parent_path();
  if (ec) dir = executable.parent_path();
  if (!dir.empty()) {
    for (fs::path p = dir;; p = p.parent_path()) {
      out.push_back(p / kDefaultModelRelativePath);
      if (p == p.root_path() || p.parent_path() == p) break;
    }
    out.push_back(dir.parent_path() / "share/mamba" / kDefaultModelRelativePath);
  }
  if (*MAMBA_CONFIG_SOURCE_DIR) out.push_back(fs::path(MAMBA_CONFIG_SOURCE_DIR) / kDefaultModelRelativePath);
  if (*MAMBA_CONFIG_INSTALL_PREFIX) {
    out.push_back(fs::path(MAMBA_CONFIG_INSTALL_PREFIX) / "share/mamba" / kDefaultModelRelativePath);
  }
  return out;
}

std::optional<fs::path> findDefaultModel(const std::vector<fs::path>& candidates) {
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::is_regular_file(c / "config.json", ec)) return c.lexically_normal();
  }
  return std::nullopt;
}

fs::path currentExecutable(const char* argv0) {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && !exe.empty()) return exe;
  return argv0 ? fs::path(argv0) : fs::path();
}

}  // namespace mamba::config
