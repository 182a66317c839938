// Shared helpers for the model tests: the HF oracle cases and tensor comparison.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "tests/common/tensor_compare.h"  // maxRelErr: the relative error used throughout (1e-4 in fp32)

namespace mamba::testing {

// Written by tests/oracle/hf_mamba2_cases.py (the ctest fixture `hf_oracle`).
inline std::string hfCaseDir(const std::string& name) {
  return std::string(MAMBA_BINARY_DIR) + "/testdata/hf/" + name;
}

struct OracleCase {
  std::vector<std::vector<int32_t>> sequences;
  std::vector<torch::Tensor> logits;  // (L, V) fp32 per sequence
};

inline OracleCase loadOracle(const std::string& name) {
  std::ifstream in(hfCaseDir(name) + "/expected.json");
  nlohmann::json j = nlohmann::json::parse(in);
  OracleCase c;
  for (const auto& s : j["sequences"]) c.sequences.push_back(s.get<std::vector<int32_t>>());
  for (const auto& l : j["logits"]) {
    auto rows = l.get<std::vector<std::vector<float>>>();
    torch::Tensor t = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
    for (size_t r = 0; r < rows.size(); ++r) {
      t[static_cast<int64_t>(r)] = torch::tensor(rows[r]);
    }
    c.logits.push_back(t);
  }
  return c;
}


}  // namespace mamba::testing
