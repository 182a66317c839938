// Multiple-choice documents in the public JSONL layouts, the harness's prompt formats and
// text cleanup, request encoding, and acc / acc_norm worked out by hand. Torch-free.
#include "pruning/mc_tasks.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace mamba::pruning {
namespace {

McDoc parse(McTask t, const std::string& line) {
  auto d = parseMcDoc(t, line, "test:1");
  EXPECT_TRUE(d.isOk()) << d.status().toString();
  return d.isOk() ? *d : McDoc{};
}

TEST(McTasksTest, PiqaPrompt) {
  McDoc d = parse(McTask::kPiqa, R"({"goal": "Dry wet socks", "sol1": "Put them in the sun.", "sol2": "Put them in water.", "label": 0})");
  EXPECT_EQ(d.context, "Question: Dry wet socks\nAnswer:");
  EXPECT_EQ(d.choices, (std::vector<std::string>{"Put them in the sun.", "Put them in water."}));
  EXPECT_EQ(d.gold, 0);
}

TEST(McTasksTest, ArcEasyInBothLayouts) {
  McDoc hf = parse(McTask::kArcEasy,
                   R"({"id": "x", "question": "Which is a liquid?", "choices": {"text": ["ice", "water", "steam"], "label": ["A", "B", "C"]}, "answerKey": "B"})");
  EXPECT_EQ(hf.context, "Question: Which is a liquid?\nAnswer:");
  EXPECT_EQ(hf.choices.size(), 3u);
  EXPECT_EQ(hf.gold, 1);
  McDoc ai2 = parse(McTask::kArcEasy,
                    R"({"id": "x", "question": {"stem": "Which is a liquid?", "choices": [{"text": "ice", "label": "1"}, {"text": "water", "label": "2"}]}, "answerKey": "2"})");
  EXPECT_EQ(ai2.context, hf.context);
  EXPECT_EQ(ai2.choices, (std::vector<std::string>{"ice", "water"}));
  EXPECT_EQ(ai2.gold, 1);
}

TEST(McTasksTest, OpenBookQaUsesTheBareStem) {
  McDoc d = parse(McTask::kOpenBookQa,
                  R"({"id": "7-980", "question_stem": "The sun is responsible for", "choices": {"text": ["puppies learning", "plants sprouting"], "label": ["A", "B"]}, "answerKey": " B"})");
  EXPECT_EQ(d.context, "The sun is responsible for");
  EXPECT_EQ(d.gold, 1);  // answerKey.lstrip()
  McDoc ai2 = parse(McTask::kOpenBookQa,
                    R"({"id": "1", "question": {"stem": "Stem", "choices": [{"text": "a", "label": "A"}, {"text": "b", "label": "B"}]}, "answerKey": "A"})");
  EXPECT_EQ(ai2.context, "Stem");
  EXPECT_EQ(ai2.gold, 0);
}

TEST(McTasksTest, HellaSwagPreprocessing) {
  McDoc d = parse(McTask::kHellaSwag,
                  R"({"activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he STARTS", "endings": [" is using wrap [header] to wrap a pair of skis.", "  starts pulling up roofing on a roof. [title] Step."], "label": "1"})");
  EXPECT_EQ(d.context, "Roof shingle removal: A man is sitting on a roof. He starts");  // capitalize() lowers the rest
  EXPECT_EQ(d.choices[0], "is using wrap to wrap a pair of skis.");
  EXPECT_EQ(d.choices[1], "starts pulling up roofing on a roof.. Step.");
  EXPECT_EQ(d.gold, 1);
  EXPECT_EQ(hellaswagPreprocess("  a [x] b  [y]c   d "), "a b c  d");  // one pass of "  " -> " "
  EXPECT_EQ(hellaswagPreprocess("keep [open"), "keep [open");
  EXPECT_EQ(pythonCapitalize("hELLO World"), "Hello world");
}

TEST(McTasksTest, BadDocumentsNameTheLine) {
  auto r = parseMcDoc(McTask::kPiqa, R"({"goal": "g", "sol1": "a", "sol2": "b", "label": 2})", "f.jsonl:3");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("f.jsonl:3"), std::string::npos);
  auto m = parseMcDoc(McTask::kPiqa, R"({"goal": "g", "sol1": "a", "label": 0})", "f.jsonl:4");
  ASSERT_FALSE(m.isOk());
  EXPECT_NE(m.status().message().find("sol2"), std::string::npos) << m.status().message();
  EXPECT_FALSE(parseMcDoc(McTask::kArcEasy, R"({"question": "q", "choices": {"text": ["a"], "label": ["A"]}, "answerKey": "E"})", "x").isOk());
  EXPECT_FALSE(parseMcDoc(McTask::kHellaSwag, "[1, 2]", "x").isOk());
  EXPECT_FALSE(parseMcTask("mmlu").isOk());
}

TEST(McTasksTest, LoadsJsonlFilesWithLimit) {
  const auto path = std::filesystem::temp_directory_path() / ("mc_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(path) << R"({"goal": "a", "sol1": "x", "sol2": "y", "label": 0})" << "\n\n"
                      << R"({"goal": "b", "sol1": "x", "sol2": "y", "label": 1})" << "\n"
                      << R"({"goal": "c", "sol1": "x", "sol2": "y", "label": 1})" << "\n";
  auto all = loadMcDocs(McTask::kPiqa, path.string());
  auto two = loadMcDocs(McTask::kPiqa, path.string(), 2);
  std::filesystem::remove(path);
  ASSERT_TRUE(all.isOk() && two.isOk());
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].gold, 1);
  EXPECT_FALSE(loadMcDocs(McTask::kPiqa, "/nonexistent.jsonl").isOk());
}

TEST(McTasksTest, EncodeRequestFollowsTheHarness) {
  // A toy tokenizer that merges "ab" into one token (id 1000); other bytes are their value.
  EncodeFn enc = [](std::string_view s) {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s.compare(i, 2, "ab") == 0) {
        ids.push_back(1000);
        ++i;
      } else {
        ids.push_back(static_cast<unsigned char>(s[i]));
      }
    }
    return ids;
  };
  // whole = enc("Q: ab c") = [Q : ␠ ab ␠ c]; context = enc("Q: a") has 4 ids, so the
  // continuation is whole[4:] = [␠ c]: the merged token straddling the boundary is dropped,
  // exactly as the harness's split does.
  EncodedRequest r = encodeRequest("Q: a", "b c", enc, 0);
  EXPECT_EQ(r.context, (std::vector<int32_t>{'Q', ':', ' ', 'a'}));
  EXPECT_EQ(r.continuation, (std::vector<int32_t>{' ', 'c'}));
}

TEST(McTasksTest, TrailingContextWhitespaceMovesToTheContinuation) {
  EncodeFn bytes = [](std::string_view s) {
    std::vector<int32_t> ids;
    for (char c : s) ids.push_back(static_cast<unsigned char>(c));
    return ids;
  };
  EncodedRequest r = encodeRequest("Answer: \n", "yes", bytes, 0);
  EXPECT_EQ(r.context, bytes("Answer:"));
  EXPECT_EQ(r.continuation, bytes(" \nyes"));
  EncodedRequest e = encodeRequest("", " yes", bytes, 7);
  EXPECT_EQ(e.context, std::vector<int32_t>{7});
  EXPECT_EQ(e.continuation, bytes(" yes"));
}

TEST(McTasksTest, AccAndAccNormByHand) {
  // acc: argmax(-4, -6) = 0. acc_norm: -4/2 = -2 vs -6/6 = -1 -> 1.
  McPrediction p = predictChoice({-4.0, -6.0}, {"ab", "abcdef"});
  EXPECT_EQ(p.pred, 0);
  EXPECT_EQ(p.predNorm, 1);
  // Ties: the first maximum.
  McPrediction t = predictChoice({-3.0, -3.0, -9.0}, {"abc", "abc", "x"});
  EXPECT_EQ(t.pred, 0);
  EXPECT_EQ(t.predNorm, 0);
  // Length is in code points, as Python's len(): "café" has 4 (5 bytes).
  EXPECT_EQ(choiceLength("café"), 4);
  EXPECT_EQ(choiceLength("ab\xff"), 3);
  McPrediction u = predictChoice({-8.0, -9.0}, {"café", "cafés"});  // -2 vs -1.8
  EXPECT_EQ(u.predNorm, 1);
}

}  // namespace
}  // namespace mamba::pruning
