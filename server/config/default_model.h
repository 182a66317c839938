// Where the built-in default model (models/mamba2-ref) is found when no model is configured.
#pragma once

#include <filesystem>
#include <optional>
#include <vector>

namespace mamba::config {

inline constexpr const char* kDefaultModelRelativePath = "models/mamba2-ref";

// Candidate directories, most specific first:
//   $MAMBA_DEFAULT_MODEL (when set),
//   <ancestor>/models/mamba2-ref for every ancestor of the executable's directory
//     (a build tree inside the checkout: build/server/app/mamba-server),
//   <exe dir>/../share/mamba/models/mamba2-ref (an installed tree),
//   <source dir>/models/mamba2-ref and <install prefix>/share/mamba/models/mamba2-ref
//     (compiled in at configure time).
std::vector<std::filesystem::path> defaultModelCandidates(const std::filesystem::path& executable);

// The first candidate holding a config.json.
std::optional<std::filesystem::path> findDefaultModel(
    const std::vector<std::filesystem::path>& candidates);

// The running executable (/proc/self/exe), or `argv0` if that cannot be read.
std::filesystem::path currentExecutable(const char* argv0);

}  // namespace mamba::config
