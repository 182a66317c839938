// readWholeFile (server/common/file_util.h): bytes back unchanged, errors that name the file.
#include "server/common/file_util.h"

#include <gtest/gtest.h>

#include "tests/common/test_support.h"

namespace mamba {
namespace {

TEST(ReadWholeFile, ReturnsTheBytesUnchanged) {
  testing::TempDir tmp;
  const std::string bytes = std::string("line one\r\n\0binary\xff tail", 23);
  testing::writeFile(tmp.path() / "f.bin", bytes);
  auto r = readWholeFile(tmp.path() / "f.bin", "test file");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, bytes);
  testing::writeFile(tmp.path() / "empty", "");
  auto e = readWholeFile(tmp.path() / "empty", "test file");
  ASSERT_TRUE(e.isOk()) << e.status().toString();
  EXPECT_EQ(*e, "");
}

TEST(ReadWholeFile, MissingFileIsNotFoundNamingWhatAndWhere) {
  auto r = readWholeFile("/nonexistent/dir/config.json", "config file");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "config file '/nonexistent/dir/config.json': cannot open (No such file or directory)");
}

TEST(ReadWholeFile, ADirectoryIsAnError) {
  testing::TempDir tmp;
  auto r = readWholeFile(tmp.path(), "calibration.text_path");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("calibration.text_path '" + tmp.path().string() + "'"), std::string::npos)
      << r.status().toString();
}

}  // namespace
}  // namespace mamba
