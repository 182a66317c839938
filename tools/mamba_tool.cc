// mamba-tool: the offline tool (no gRPC). Subcommands: info, generate, logits, perplexity,
// make-model, convert, and the pruning commands calibrate, prune, eval, sweep
// (tools/pruning_commands.h). Errors go to stderr with exit code 1; results go to stdout.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "server/common/crash_report.h"
#include "server/engine/model_backend.h"
#include "server/engine/offline.h"
#include "server/model/checkpoint.h"
#include "server/model/mamba2_model.h"
#include "server/model/random_init.h"
#include "server/tokenizer/tokenizer.h"
#include "tools/pruning_commands.h"
#include "tools/tool_util.h"

namespace fs = std::filesystem;
using mamba::Status;
using mamba::StatusError;
using mamba::tool::loadTokenizer;
using mamba::tool::orDie;
using mamba::tool::readFile;

namespace {

std::vector<int32_t> parseIds(const std::string& csv) {
  std::vector<int32_t> ids;
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(static_cast<int32_t>(v));
    } catch (const std::exception&) {
      throw StatusError(mamba::invalidArgument("--ids: '" + item + "' is not a token id"));
    }
  }
  if (ids.empty()) throw StatusError(mamba::invalidArgument("--ids: at least one id is required"));
  return ids;
}

struct ModelFlags {
  std::string dir, dtype = "fp32", device = "cpu";
  void add(CLI::App* app) {
    app->add_option("model_dir", dir, "model directory (config.json + weights)")->required();
    app->add_option("--dtype", dtype, "fp32 | bf16 | fp16")->capture_default_str();
    app->add_option("--device", device, "cpu | cuda[:N]")->capture_default_str();
  }
  std::unique_ptr<mamba::ModelBackend> backend(int64_t slots = 1) const {
    mamba::BackendOptions o;
    o.modelDir = dir;
    o.dtype = dtype;
    o.device = device;
    o.numSlots = slots;
    return orDie(mamba::loadTorchBackend(o));
  }
};

void cmdInfo(const ModelFlags& f) {
  auto dtype = orDie(mamba::parseDTypeName(f.dtype));
  auto cfg = orDie(mamba::ModelConfig::fromFile((fs::path(f.dir) / "config.json").string()));
  auto ckpt = orDie(mamba::loadCheckpoint(f.dir, {dtype, torch::kCPU}));  // validates the weights too
  nlohmann::json j;
  j["format"] = cfg.format == mamba::CheckpointFormat::kHuggingFace ? "huggingface" : "mamba_ssm";
  j["layers"] = cfg.nLayer;
  j["d_model"] = cfg.dModel;
  j["d_inner"] = cfg.dInner;
  j["heads"] = cfg.nHeads;
  j["head_dim"] = cfg.headDim;
  j["groups"] = cfg.nGroups;
  j["conv_kernel"] = cfg.convKernel;
  j["chunk_size"] = cfg.chunkSize;
  j["state_sizes"] = cfg.stateSizes;
  j["vocab_size"] = cfg.vocabSize;
  j["raw_vocab_size"] = cfg.rawVocabSize;
  j["tied_embeddings"] = cfg.tieEmbeddings;
  j["dtype"] = mamba::dtypeShortName(dtype);
  j["parameters"] = cfg.parameterCount();
  j["state_bytes_per_sequence_fp32"] = cfg.stateBytesPerSequence(4, 4);
  (void)ckpt;
  std::cout << j.dump(2) << "\n";
}

void cmdLogits(const ModelFlags& f, const std::string& idsCsv) {
  auto dtype = orDie(mamba::parseDTypeName(f.dtype));
  torch::Device device(f.device);
  auto ckpt = orDie(mamba::loadCheckpoint(f.dir, {dtype, device}));
  std::vector<int32_t> ids = parseIds(idsCsv);
  for (int32_t id : ids) {
    if (id >= ckpt.config.vocabSize) throw StatusError(mamba::invalidArgument("--ids: id " + std::to_string(id) + " >= vocab_size " + std::to_string(ckpt.config.vocabSize)));
  }
  mamba::Mamba2Model model(ckpt.config, ckpt.weights);
  mamba::StatePool pool(model.config(), 1, device);
  torch::Tensor logits = model.prefill({{ids, 0, false}}, pool, mamba::LogitsMode::kAll)[0].cpu().contiguous();
  std::ostringstream os;
  os << std::setprecision(9) << "{\"logits\": [";
  for (int64_t t = 0; t < logits.size(0); ++t) {
    os << (t ? ",\n[" : "\n[");
    const float* row = logits[t].data_ptr<float>();
    for (int64_t v = 0; v < logits.size(1); ++v) os << (v ? "," : "") << row[v];
    os << "]";
  }
  os << "]}\n";
  std::cout << os.str();
}

}  // namespace

int main(int argc, char** argv) {
  mamba::installCrashReport("mamba-tool");
  CLI::App app{"mamba-tool: offline Mamba-2 model tool (info, generate, logits, perplexity, make-model, convert, "
               "calibrate, prune, eval, sweep)"};
  app.require_subcommand(1);

  ModelFlags infoF, genF, logF, pplF;
  auto* info = app.add_subcommand("info", "print a model summary as JSON");
  infoF.add(info);

  auto* gen = app.add_subcommand("generate", "text in, text out");
  genF.add(gen);
  std::string prompt, tokenizerPath;
  mamba::SamplingParams sp;
  sp.temperature = 0.f;
  uint64_t seed = 0;
  bool stream = true;
  std::vector<std::string> stopStrings;
  std::vector<int32_t> stopIds;
  gen->add_option("--prompt", prompt, "prompt text")->required();
  gen->add_option("--tokenizer", tokenizerPath, "tokenizer.json (default: MODEL_DIR/tokenizer.json)");
  gen->add_option("--max-new-tokens", sp.maxNewTokens, "")->capture_default_str();
  gen->add_option("--temperature", sp.temperature, "0 = greedy")->capture_default_str();
  gen->add_option("--top-k", sp.topK, "0 = off")->capture_default_str();
  gen->add_option("--top-p", sp.topP, "")->capture_default_str();
  gen->add_option("--min-p", sp.minP, "")->capture_default_str();
  gen->add_option("--repetition-penalty", sp.repetitionPenalty, "")->capture_default_str();
  auto* seedOpt = gen->add_option("--seed", seed, "sampling seed");
  gen->add_option("--stop", stopStrings, "stop string (repeatable)");
  gen->add_option("--stop-token-id", stopIds, "stop token id (repeatable)");
  gen->add_flag("--ignore-eos", sp.ignoreEos, "");
  gen->add_flag("!--no-stream", stream, "print the text only at the end");

  auto* lg = app.add_subcommand("logits", "print JSON logits, one row per position");
  logF.add(lg);
  std::string ids;
  lg->add_option("--ids", ids, "comma-separated token ids")->required();

  auto* ppl = app.add_subcommand("perplexity", "perplexity and bits per byte of a text file (JSON)");
  pplF.add(ppl);
  std::string textPath, pplTokenizer;
  int64_t context = 2048, maxBytes = 0;
  ppl->add_option("--text", textPath, "text file")->required();
  ppl->add_option("--tokenizer", pplTokenizer, "tokenizer.json (default: MODEL_DIR/tokenizer.json)");
  ppl->add_option("--context", context, "window length in tokens")->capture_default_str();
  ppl->add_option("--max-bytes", maxBytes, "use only the first N bytes (0 = all)");

  auto* mk = app.add_subcommand("make-model", "write a random-weight HF checkpoint");
  std::string preset, outDir, mkDtype = "fp32";
  uint64_t mkSeed = 0;
  bool random = false;
  mk->add_option("--preset", preset, "tiny | 130m | 370m | 780m | 1.3b | 2.7b")->required();
  mk->add_flag("--random", random, "random weights (the only kind available)")->required();
  mk->add_option("--seed", mkSeed, "")->capture_default_str();
  mk->add_option("--out", outDir, "output directory")->required();
  mk->add_option("--dtype", mkDtype, "stored dtype")->capture_default_str();

  auto* cv = app.add_subcommand("convert", "convert a mamba_ssm checkpoint (pytorch_model.bin) to HF safetensors");
  std::string cvIn, cvOut, cvDtype = "fp32";
  cv->add_option("input_dir", cvIn, "mamba_ssm directory (config.json + pytorch_model.bin)")->required();
  cv->add_option("--out", cvOut, "output directory")->required();
  cv->add_option("--dtype", cvDtype, "stored dtype")->capture_default_str();

  mamba::tool::PruningCommands pruning;
  pruning.add(app);

  CLI11_PARSE(app, argc, argv);
  try {
    if (pruning.run()) {
      // calibrate | prune | eval | sweep ran
    } else if (*info) {
      cmdInfo(infoF);
    } else if (*gen) {
      auto backend = genF.backend();
      auto tok = loadTokenizer(genF.dir, tokenizerPath);
      if (*seedOpt) sp.seed = seed;
      sp.stopStrings = stopStrings;
      sp.stopTokenIds = stopIds;
      std::vector<int32_t> promptIds = tok->encode(prompt);
      if (promptIds.empty()) throw StatusError(mamba::invalidArgument("--prompt encodes to no tokens"));
      auto onText = [&](std::string_view t) { std::cout << t << std::flush; };
      auto res = orDie(mamba::generate(*backend, *tok, promptIds, sp, stream ? std::function<void(std::string_view)>(onText) : nullptr));
      if (!stream) std::cout << res.text;
      std::cout << "\n";
      std::cerr << "[" << res.tokens.size() << " tokens, finish=" << mamba::finishReasonName(res.finishReason)
                << ", ttft=" << res.prefillSeconds * 1e3 << " ms, tpot="
                << (res.tokens.size() > 1 ? res.decodeSeconds * 1e3 / static_cast<double>(res.tokens.size() - 1) : 0.0)
                << " ms, seed=" << res.seed << "]\n";
    } else if (*lg) {
      cmdLogits(logF, ids);
    } else if (*ppl) {
      auto backend = pplF.backend();
      auto tok = loadTokenizer(pplF.dir, pplTokenizer);
      std::string text = readFile(textPath);
      if (maxBytes > 0 && static_cast<size_t>(maxBytes) < text.size()) text.resize(static_cast<size_t>(maxBytes));
      std::vector<int32_t> tokens = tok->encode(text);
      auto r = orDie(mamba::evaluatePerplexity(*backend, *tok, tokens, context));
      nlohmann::json j;
      j["tokens"] = tokens.size();
      j["tokens_scored"] = r.tokensScored;
      j["bytes_scored"] = r.bytesScored;
      j["mean_nll"] = r.meanNll();
      j["perplexity"] = r.perplexity();
      j["bits_per_byte"] = r.bitsPerByte();
      j["context"] = context;
      std::cout << j.dump(2) << "\n";
    } else if (*mk) {
      auto cfg = orDie(mamba::presetConfig(preset));
      auto weights = mamba::randomWeights(cfg, mkSeed);
      orDie(mamba::saveHfCheckpoint(cfg, weights, outDir, orDie(mamba::parseDTypeName(mkDtype))));
      std::cerr << "wrote " << outDir << " (" << cfg.parameterCount() << " parameters)\n";
    } else if (*cv) {
      if (!fs::exists(fs::path(cvIn) / "pytorch_model.bin")) throw StatusError(mamba::notFound("no pytorch_model.bin in " + cvIn));
      auto dtype = orDie(mamba::parseDTypeName(cvDtype));
      auto ckpt = orDie(mamba::loadCheckpoint(cvIn, {torch::kFloat32, torch::kCPU}));
      orDie(mamba::saveHfCheckpoint(ckpt.config, ckpt.weights, cvOut, dtype));
      std::cerr << "wrote " << cvOut << "\n";
    }
  } catch (const StatusError& e) {
    std::cerr << "mamba-tool: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mamba-tool: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
