// Whole-file reads for the small text files every layer opens: configs, tokenizers, score
// files, corpora, /proc entries.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "server/common/status.h"

namespace mamba {

// The bytes of `path`. `what` names the file in errors, as the caller's user knows it
// ("config file", "calibration.text_path"): NOT_FOUND "<what> '<path>': cannot open (<reason>)"
// when it cannot be opened, INVALID_ARGUMENT for a directory, DATA_LOSS on a read error.
StatusOr<std::string> readWholeFile(const std::filesystem::path& path, std::string_view what);

}  // namespace mamba
