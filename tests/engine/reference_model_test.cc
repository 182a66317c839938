// The shipped default model (models/mamba2-ref): it loads, and the engine's bits per byte on a
// fixed 4 KB held-out slice stays within 1% of the value recorded in its model card
// (eval.json, measured with transformers in fp32). In practice the two agree to ~1e-8.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "server/engine/model_backend.h"
#include "server/engine/offline.h"

namespace mamba {
namespace {

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ReferenceModel, LoadsAndBitsPerByteMatchesModelCard) {
  const std::string dir = std::string(MAMBA_SOURCE_DIR) + "/models/mamba2-ref";
  BackendOptions opt;
  opt.modelDir = dir;
  opt.numSlots = 1;
  auto backend = loadTorchBackend(opt);
  ASSERT_TRUE(backend.isOk()) << backend.status().toString();
  EXPECT_EQ((*backend)->info().stateSizes, std::vector<int64_t>(5, 64));
  auto tok = Tokenizer::fromFile(dir + "/tokenizer.json");
  ASSERT_TRUE(tok.isOk()) << tok.status().toString();

  const std::string text = readAll(std::string(MAMBA_SOURCE_DIR) + "/tests/data/wikitext2_heldout_4k.txt");
  ASSERT_EQ(text.size(), 4096u);
  nlohmann::json card = nlohmann::json::parse(readAll(dir + "/eval.json"));
  const double want = card.at("slice4k_bpb").get<double>();
  const int64_t context = card.at("context").get<int64_t>();

  std::vector<int32_t> ids = (*tok)->encode(text);
  auto r = evaluatePerplexity(**backend, **tok, ids, context);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->tokensScored, card.at("slice4k_tokens_scored").get<int64_t>());
  EXPECT_NEAR(r->bitsPerByte(), want, 0.01 * want);
  EXPECT_NEAR(r->bitsPerByte(), want, 1e-5 * want) << "fp32 engine vs transformers drifted";
}

}  // namespace
}  // namespace mamba
