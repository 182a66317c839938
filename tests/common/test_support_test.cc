// The shared test helpers that the other suites rely on to report and clean up: removeTree
// (the suites' replacement for std::filesystem::remove_all) and the crash handler every test
// binary carries (tests/common/crash_backtrace.cc).
#include "tests/common/test_support.h"

#include <unistd.h>

#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace mamba::testing {
namespace {

namespace fs = std::filesystem;

TEST(TestSupport, RemoveTreeRemovesNestedFilesAndDoesNotFollowLinks) {
  TempDir outside;
  writeFile(outside.path() / "kept.txt", "kept");
  const fs::path root = fs::temp_directory_path() / ("remove-tree-" + std::to_string(getpid()));
  fs::create_directories(root / "a" / "b");
  writeFile(root / "a" / "b" / "file.txt", "x");
  writeFile(root / "top.txt", "y");
  fs::create_directory_symlink(outside.path(), root / "link");
  removeTree(root);
  EXPECT_FALSE(fs::exists(fs::symlink_status(root)));
  EXPECT_EQ(readFile(outside.path() / "kept.txt"), "kept");  // the link's target survives
}

TEST(TestSupport, RemoveTreeOfAFileOrANothingIsQuiet) {
  TempDir dir;
  writeFile(dir.path() / "f", "z");
  removeTree(dir.path() / "f");
  EXPECT_FALSE(fs::exists(dir.path() / "f"));
  removeTree(dir.path() / "missing");  // no throw, nothing happens
  EXPECT_TRUE(fs::exists(dir.path()));
}

TEST(TestSupportDeathTest, CrashHandlerNamesTheTestAndTheFault) {
#if defined(__x86_64__)  // the faulting instruction is read from the x86-64 machine context
  const char* machine = "instruction 0x[0-9a-f]{16} [^\n]*common_tests\\+0x(.|\n)*";
#else
  const char* machine = "(.|\n)*";
#endif
  EXPECT_DEATH(
      {
        int* volatile p = nullptr;
        *p = 1;
      },
      std::string("caught signal Segmentation fault in TestSupportDeathTest\\.CrashHandlerNamesTheTestAndTheFault\n"
                  "fault address 0x0000000000000000\n") +
          machine + "backtrace");
}

}  // namespace
}  // namespace mamba::testing
