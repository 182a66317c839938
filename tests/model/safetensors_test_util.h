// Helpers shared by the safetensors tests (safetensors_test.cc, safetensors_index_test.cc).
#pragma once


#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>


#include "server/model/safetensors.h"
#include "server/model/safetensors_index.h"
#include "tests/common/test_support.h"

namespace mamba::sttest {

namespace fs = std::filesystem;

#ifndef MAMBA_PYTHON_EXECUTABLE
#define MAMBA_PYTHON_EXECUTABLE MAMBA_SOURCE_DIR "/.deps/venv/bin/python"
#endif

// ---------------------------------------------------------------------------------------
// Helpers

// A fresh directory (the suites' testing::TempDir), removed with its contents on destruction,
// with its path as a string.
class TempDir {
 public:
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  mamba::testing::TempDir tmp_;
  std::string path_ = tmp_.path().string();
};

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void writeFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string toString(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

inline std::string hexDecode(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

inline std::string hexEncode(const std::string& bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

constexpr DType kAllDTypes[] = {DType::kF64,  DType::kF32,    DType::kF16,   DType::kBF16,
                                DType::kI64,  DType::kI32,    DType::kI16,   DType::kI8,
                                DType::kU8,   DType::kBool,   DType::kF8E4M3, DType::kF8E5M2};

// The reference writer's order: widest alignment first (the Rust crate's Dtype enum order).
const std::vector<DType> kWriterOrder = {DType::kI64,    DType::kF64,    DType::kF32,
                                         DType::kI32,    DType::kBF16,   DType::kF16,
                                         DType::kI16,    DType::kF8E4M3, DType::kF8E5M2,
                                         DType::kI8,     DType::kU8,     DType::kBool};

// A tensor that owns its bytes.
struct OwnedTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string data;

  TensorView view() const { return {name, dtype, shape, data.empty() ? nullptr : data.data()}; }
};

inline OwnedTensor makeTensor(std::string name, DType dtype, std::vector<int64_t> shape, int seed) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  std::string data(static_cast<size_t>(numel) * dtypeSize(dtype), '\0');
  for (size_t i = 0; i < data.size(); ++i) {
    data[i] = dtype == DType::kBool ? static_cast<char>((i + seed) % 2)
                                    : static_cast<char>((i * 31 + seed * 17 + 1) & 0xff);
  }
  return {std::move(name), dtype, std::move(shape), std::move(data)};
}

inline std::vector<TensorView> views(const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorView> out;
  for (const OwnedTensor& t : tensors) out.push_back(t.view());
  return out;
}

inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Every dtype as a matrix, a 0-dim scalar and a zero-size tensor.
inline std::vector<OwnedTensor> everyDtypeTensors() {
  std::vector<OwnedTensor> out;
  int seed = 0;
  for (DType dt : kAllDTypes) {
    std::string base = lower(dtypeName(dt));
    out.push_back(makeTensor(base + ".matrix", dt, {3, 5}, seed++));
    out.push_back(makeTensor(base + ".scalar", dt, {}, seed++));
    out.push_back(makeTensor(base + ".empty", dt, {0, 4}, seed++));
  }
  out.push_back(makeTensor("odd.vector", DType::kU8, {7}, 99));
  return out;
}

// Checks that `file` holds exactly `expected` (any order), byte for byte.
inline void expectHolds(const SafetensorsFile& file, const std::vector<OwnedTensor>& expected) {
  ASSERT_EQ(file.tensors().size(), expected.size()) << file.path();
  for (const OwnedTensor& t : expected) {
    const TensorInfo* info = file.find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->name, t.name);
    EXPECT_EQ(info->dtype, t.dtype) << t.name;
    EXPECT_EQ(info->shape, t.shape) << t.name;
    EXPECT_EQ(info->end - info->begin, t.data.size()) << t.name;
    EXPECT_EQ(static_cast<size_t>(info->numel()) * dtypeSize(info->dtype), t.data.size());
    EXPECT_EQ(toString(file.bytes(*info)), t.data) << t.name;
  }
}

inline void expectError(const Status& status, StatusCode code, const std::vector<std::string>& needles) {
  EXPECT_EQ(status.code(), code) << status.toString();
  for (const std::string& needle : needles) {
    EXPECT_NE(status.message().find(needle), std::string::npos)
        << "message lacks \"" << needle << "\": " << status.message();
  }
}

// ---------------------------------------------------------------------------------------
// DType


}  // namespace mamba::sttest
