// Zero-shot multiple-choice tasks with lm-evaluation-harness semantics. Torch-free: documents
// in, (context, choices, gold) and the acc / acc_norm decision out; the model side is in
// evaluation.h.
//
// Prompt formats (the harness's task YAMLs; continuation = " " + choice, the harness's
// default target delimiter):
//   piqa        context "Question: {goal}\nAnswer:", choices [sol1, sol2], gold = label
//   arc_easy    context "Question: {question}\nAnswer:", choices = choices.text,
//               gold = choices.label.index(answerKey)
//   hellaswag   context preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)),
//               choices = [preprocess(e) for e in endings], gold = int(label)
//   openbookqa  context = question_stem, choices = choices.text,
//               gold = choices.label.index(answerKey.lstrip())
// Accepted JSONL layouts: the Hugging Face datasets' rows (piqa: goal/sol1/sol2/label;
// ai2_arc and openbookqa/main: question or question_stem, choices {text, label}, answerKey;
// hellaswag: activity_label/ctx_a/ctx_b/endings/label) and the original AI2 files
// ({"question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}) for ARC and OBQA.
//
// Metrics: acc = [argmax_i ll_i == gold]; acc_norm = [argmax_i ll_i / len_i == gold], where
// ll_i is the summed log-probability of continuation i and len_i the length of choice i as
// the harness computes it: Python's len() of the choice string (Unicode code points, without
// the delimiter; equal to the byte length for ASCII text). argmax takes the first maximum.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "server/common/status.h"

namespace mamba::pruning {

enum class McTask { kPiqa, kArcEasy, kHellaSwag, kOpenBookQa };

StatusOr<McTask> parseMcTask(const std::string& name);  // piqa | arc_easy | hellaswag | openbookqa
const char* mcTaskName(McTask task);

struct McDoc {
  std::string context;
  std::vector<std::string> choices;  // without the leading delimiter
  int64_t gold = 0;
};

// One JSONL line. `where` (e.g. "file.jsonl:12") prefixes errors.
StatusOr<McDoc> parseMcDoc(McTask task, std::string_view jsonLine, const std::string& where);
// Every non-empty line of a JSONL file; `limit` > 0 keeps only the first `limit` docs.
StatusOr<std::vector<McDoc>> loadMcDocs(McTask task, const std::string& path, int64_t limit = 0);

// The harness's HellaSwag text cleanup: strip, " [title]" -> ". ", drop "[...]" spans
// (shortest match), then one pass of "  " -> " ".
std::string hellaswagPreprocess(std::string_view text);
// Python's str.capitalize() for ASCII letters (other bytes unchanged).
std::string pythonCapitalize(std::string_view text);

// Token ids of one (context, continuation) request as the harness builds them: trailing
// whitespace of the context moves to the continuation; the continuation's ids are those of
// encode(context + continuation) after the first |encode(context)| ids. An empty context
// becomes [prefixToken] (the harness uses the EOT token) with encode(continuation).
struct EncodedRequest {
  std::vector<int32_t> context;
  std::vector<int32_t> continuation;
};
using EncodeFn = std::function<std::vector<int32_t>(std::string_view)>;
EncodedRequest encodeRequest(const std::string& context, const std::string& continuation, const EncodeFn& encode,
                             int32_t prefixToken);

// Length used by acc_norm (code points of `choice`; malformed UTF-8 bytes count one each).
int64_t choiceLength(std::string_view choice);

struct McPrediction {
  int64_t pred = 0;      // argmax of the summed log-likelihoods
  int64_t predNorm = 0;  // argmax of log-likelihood / choiceLength
};
McPrediction predictChoice(const std::vector<double>& logLikelihoods, const std::vector<std::string>& choices);

struct McResult {
  int64_t docs = 0;
  double acc = 0;      // fraction of docs with pred == gold
  double accNorm = 0;  // fraction with predNorm == gold
};

}  // namespace mamba::pruning
