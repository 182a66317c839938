// The model the RPC tests serve: the random "tiny" preset (2 layers, d_model 64, vocab 512,
// EOS 0), written once per test process by the real `mamba-tool make-model`, with a
// byte-level tokenizer.json covering all 512 ids (256 byte tokens + 256 merges). Tiny on purpose: the suite runs
// dozens of servers and hundreds of requests within seconds on a shared CPU. (The reference
// model models/mamba2-ref is too large for that; the server binary finds it by itself.)
#pragma once

#include <string>

namespace mamba::rpctest {

// The model directory (config.json, model.safetensors, tokenizer.json); aborts the test
// process with a message if mamba-tool fails.
const std::string& tinyModelDir();

// Path of a built executable under the build tree ("server/app/mamba-server").
std::string builtExecutable(const std::string& relativePath);

}  // namespace mamba::rpctest
