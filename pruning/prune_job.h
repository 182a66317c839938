// One pruning run from a checkpoint directory to a pruned checkpoint directory: scores (loaded
// from a calibrate file, or computed here over a text corpus), the selection at the requested
// ratio, the masked or compacted surgery, and the output files. What `mamba-tool prune` and the
// server's Admin.PruneModel run. Torch-free header: the server's admin layer includes it
// beside gRPC code.
//
// Output directory: config.json + model.safetensors (an HF checkpoint this engine loads; a
// valid transformers Mamba2 checkpoint when every layer keeps the same N), tokenizer.json
// (copied from the source when it has one), scores.json (when calibrated here) and
// pruning.json (the manifest: source, scores, corpus hash, method, ratio, mode, variant, the
// per-layer state sizes before and after, the kept states, the state bytes per sequence).
//
// Errors name the option as Admin.PruneModel's request spells it (ratio, method, mode, variant,
// output_dir, scores_path, calibration.text_path, ...): INVALID_ARGUMENT for a bad value,
// NOT_FOUND for a missing file or directory, ALREADY_EXISTS for a non-empty output directory
// (unless overwrite is set).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "server/common/status.h"

namespace mamba::pruning {

struct CalibrationSource {
  std::string textPath;     // UTF-8 text, encoded with the source model's tokenizer
  int64_t maxTokens = 0;    // first tokens only (0: all)
  int64_t context = 512;    // window length
  int64_t batch = 4;        // windows per prefill
  uint64_t seed = 0;        // the random method's seed
};

struct PruneJobOptions {
  std::string modelDir;                 // the source checkpoint
  std::string tokenizerPath;            // empty: <modelDir>/tokenizer.json
  std::string device = "cpu";           // where the calibration runs: cpu | cuda[:N]
  std::string dtype = "fp32";           // the calibration's weights and the written checkpoint (surgery in fp32)
  std::string scoresPath;               // scores from `mamba-tool calibrate`; empty: calibrate
  CalibrationSource calibration;        // used when scoresPath is empty
  std::string method = "delta_b";       // delta_b | output | weight | random
  double ratio = 0.5;                   // fraction of states removed, in [0, 1)
  std::string mode = "per-layer";       // per-layer | global
  std::string variant = "compacted";    // masked | compacted
  std::string outputDir;                // created; must be empty or absent unless overwrite
  bool overwrite = false;
  // Calibration progress: (tokens done, tokens total), on the calling thread. Optional.
  std::function<void(int64_t, int64_t)> progress;
  // Polled on the calling thread before the source is loaded, before each calibration
  // prefill, and before the surgery; once it returns true the job returns CANCELLED, having
  // written nothing. (Past the last poll the job runs to the end: the surgery and writing take
  // about a second for the 130m model.) Optional.
  std::function<bool()> cancelled;
};

struct PruneJobResult {
  std::string outputDir;
  std::string scoresPath;               // the scores used (written into outputDir when calibrated here)
  std::string corpusHash;               // of the calibration tokens (fnv1a64, 16 hex digits)
  int64_t calibrationTokens = 0;
  double calibrationSeconds = 0;        // 0 when the scores were loaded
  double surgerySeconds = 0;            // selection, surgery and writing the checkpoint
  std::vector<int64_t> stateSizesBefore, stateSizes;  // N_i per layer
  int64_t stateBytesPerSequenceBefore = 0, stateBytesPerSequence = 0;  // fp32 SSM + conv state
  int64_t parameters = 0;
  bool hfCompatible = false;            // every layer keeps the same N
};

StatusOr<PruneJobResult> runPruneJob(const PruneJobOptions& options);

}  // namespace mamba::pruning
