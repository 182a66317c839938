// ScoreJob completion/failure and ScoreSequence chunking at the context boundary.
#include "server/engine/score_job.h"

#include <gtest/gtest.h>

#include <thread>

namespace mamba {
namespace {

ScoreJob::Item item(size_t contextLen, size_t contLen) {
  ScoreJob::Item it;
  for (size_t i = 0; i < contextLen + contLen; ++i) it.tokens.push_back(static_cast<int32_t>(i + 10));
  it.contextLen = contextLen;
  it.numBytes = static_cast<int64_t>(contLen) * 2;
  return it;
}

TEST(ScoreSequence, ChunksNeverSpanTheBoundaryAndTargetsAreShifted) {
  auto job = std::make_shared<ScoreJob>(std::vector<ScoreJob::Item>{item(5, 3)}, std::nullopt);
  ScoreSequence seq(job, 0, 7);
  EXPECT_EQ(seq.remaining(), 7u);  // inputs are tokens[0..6]
  // Context part: inputs [0, 4) unscored.
  auto c = seq.nextChunk(10);
  EXPECT_EQ(c.item.tokens.size(), 4u);
  EXPECT_FALSE(c.item.continueFromState);
  EXPECT_EQ(c.item.slot, 7);
  EXPECT_TRUE(c.targets.empty());
  EXPECT_FALSE(seq.accept(c, {}));
  // Scored part: inputs [4, 7) predict tokens [5, 8), in chunks of 2.
  c = seq.nextChunk(2);
  EXPECT_TRUE(c.item.continueFromState);
  ASSERT_EQ(c.targets.size(), 2u);
  EXPECT_EQ(c.item.tokens[0], 14);
  EXPECT_EQ(c.targets[0], 15);
  std::vector<ScoredToken> s = {{-0.5f, true}, {-1.0f, true}};
  EXPECT_FALSE(seq.accept(c, s));
  c = seq.nextChunk(2);
  ASSERT_EQ(c.targets.size(), 1u);
  EXPECT_EQ(c.targets[0], 17);
  std::vector<ScoredToken> last = {{-0.25f, false}};
  EXPECT_TRUE(seq.accept(c, last));
  EXPECT_TRUE(seq.finished());
  auto r = job->wait();
  ASSERT_TRUE(r.isOk());
  EXPECT_DOUBLE_EQ((*r)[0].logprob, -1.75);
  EXPECT_FALSE((*r)[0].isGreedy);
  EXPECT_EQ((*r)[0].numTokens, 3);
  EXPECT_EQ((*r)[0].numBytes, 6);
}

TEST(ScoreSequence, SingleTokenContextIsScoredFromTheStart) {
  auto job = std::make_shared<ScoreJob>(std::vector<ScoreJob::Item>{item(1, 2)}, std::nullopt);
  ScoreSequence seq(job, 0, 0);
  auto c = seq.nextChunk(8);
  EXPECT_EQ(c.item.tokens.size(), 2u);
  EXPECT_EQ(c.targets.size(), 2u);
}

TEST(ScoreJob, CompletesWhenEveryItemIsScoredAndFirstFailureWins) {
  auto job = std::make_shared<ScoreJob>(std::vector<ScoreJob::Item>{item(1, 1), item(1, 1)}, std::nullopt);
  std::thread t([&] {
    EXPECT_FALSE(job->complete(1, {-2.0, true, 1, 2}));
    EXPECT_TRUE(job->complete(0, {-1.0, false, 1, 2}));
  });
  auto r = job->wait();
  t.join();
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ((*r)[0].logprob, -1.0);
  EXPECT_EQ((*r)[1].logprob, -2.0);
  EXPECT_FALSE(job->fail(internalError("late")));  // already done

  auto failing = std::make_shared<ScoreJob>(std::vector<ScoreJob::Item>{item(1, 1)}, std::nullopt);
  EXPECT_TRUE(failing->fail(deadlineExceeded("late")));
  EXPECT_FALSE(failing->fail(internalError("second")));
  EXPECT_TRUE(failing->done());
  EXPECT_EQ(failing->wait().status().code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace mamba
