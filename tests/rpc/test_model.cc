#include "tests/rpc/test_model.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "tests/common/byte_tokenizer.h"
#include "tests/common/test_support.h"

namespace mamba::rpctest {

using namespace std::chrono_literals;

std::string builtExecutable(const std::string& relativePath) {
  return (std::filesystem::path(MAMBA_BINARY_DIR) / relativePath).string();
}


const std::string& tinyModelDir() {
  // Lives until the process exits (removed by TempDir's destructor at static destruction).
  static testing::TempDir* dir = new testing::TempDir();
  static const std::string path = [] {
    const auto out = dir->path() / "tiny";
    auto result = testing::runCommand({builtExecutable("tools/mamba-tool"), "make-model",
                                       "--preset", "tiny", "--random", "--seed", "1", "--out",
                                       out.string()},
                                      "", 60s);
    if (result.exitCode != 0) {
      std::fprintf(stderr, "mamba-tool make-model failed (%d): %s\n", result.exitCode,
                   result.output.c_str());
      std::abort();
    }
    testing::writeFile(out / "tokenizer.json", testing::byteLevelTokenizerJson(256));
    std::atexit([] { delete dir; });
    return out.string();
  }();
  return path;
}

}  // namespace mamba::rpctest
