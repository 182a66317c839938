// ModelBackend's two-phase decode (decodeStart / decodeFinish): the base implementation (on
// the fake model and on the real model on the CPU) and the fake's deferred one give, step by
// step, what decode() gives, with rows that take their token from the previous step's greedy
// pick; prefills while a step is in flight change nothing; the contract's errors.
#include "server/engine/model_backend.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/engine/fake_backend.h"
#include "tests/engine/test_support.h"
#include "tests/engine/two_phase_trace.h"

namespace mamba {
namespace {

using test::FakeBackend;
using test::runTwoPhase;
using test::runWithDecode;

constexpr int64_t kVocab = 64;

// Slots 0..2 prefilled (slot 3 taken), as the trace runs do.
void prefillSequences(ModelBackend& b) {
  std::vector<PrefillItem> items;
  std::vector<std::vector<int32_t>> prompts = {{1, 2}, {3}, {4, 5, 6}};
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(b.acquireSlot(), static_cast<int32_t>(i));
    items.push_back(PrefillItem{prompts[i], static_cast<int32_t>(i), false});
  }
  ASSERT_TRUE(b.prefill(items, RowRequest{}, nullptr).isOk());
  EXPECT_EQ(b.acquireSlot(), 3);
}

std::unique_ptr<FakeBackend> fake(bool deferred) {
  auto b = std::make_unique<FakeBackend>(kVocab, 4);
  b->setDeferredDecode(deferred);
  return b;
}

TEST(TwoPhaseDecode, BaseImplementationMatchesDecodeOnTheFake) {
  auto a = fake(false), b = fake(false);
  test::expectSameTraces(runWithDecode(*a, 12, 50, true), runTwoPhase(*b, 12, 50, true));
  EXPECT_EQ(b->maxInFlight(), 2);
  EXPECT_GT(b->previousRowInputs(), 0);
  EXPECT_EQ(b->slotViolations(), 0);
}

TEST(TwoPhaseDecode, DeferredFakeMatchesDecode) {
  auto a = fake(false), b = fake(true);
  test::expectSameTraces(runWithDecode(*a, 12, 0, true), runTwoPhase(*b, 12, 0, true));
  EXPECT_EQ(b->maxInFlight(), 2);
  EXPECT_EQ(b->slotViolations(), 0);
}

TEST(TwoPhaseDecode, BaseImplementationMatchesDecodeOnTheRealModel) {
  auto a = test::loadBackend(4), b = test::loadBackend(4);
  const int32_t greedyVocab = static_cast<int32_t>(std::min<int64_t>(a->info().vocabSize, test::tokenizer().vocabSize()));
  test::expectSameTraces(runWithDecode(*a, 7, greedyVocab, true), runTwoPhase(*b, 7, greedyVocab, true));
}

// The contract's errors, on the base implementation and on the fake's deferred one.
TEST(TwoPhaseDecode, ContractErrors) {
  for (bool deferred : {false, true}) {
    SCOPED_TRACE(deferred ? "deferred" : "base");
    auto b = fake(deferred);
    prefillSequences(*b);
    StepOutputs out;
    EXPECT_EQ(b->decodeFinish(&out).code(), StatusCode::kFailedPrecondition);
    const int32_t slots[] = {0, 1};
    const RowOutput rows[] = {RowOutput::kGreedy, RowOutput::kLogits};
    const DecodeInput fromHost[] = {DecodeInput::host(1), DecodeInput::host(2)};
    const DecodeInput fromRow0[] = {DecodeInput::fromPrevious(0), DecodeInput::host(2)};
    const DecodeInput fromRow1[] = {DecodeInput::host(1), DecodeInput::fromPrevious(1)};
    const DecodeInput fromRow5[] = {DecodeInput::fromPrevious(5), DecodeInput::host(2)};
    // Nothing in flight to take a token from.
    EXPECT_EQ(b->decodeStart(fromRow0, slots, RowRequest{rows, 0}).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(b->decodeStart(std::span<const DecodeInput>(fromHost, 1), slots, RowRequest{rows, 0}).code(),
              StatusCode::kInvalidArgument);  // one slot per input
    ASSERT_TRUE(b->decodeStart(fromHost, slots, RowRequest{rows, 0}).isOk());
    // Row 1 asked for logits (no greedy pick); row 5 does not exist.
    EXPECT_EQ(b->decodeStart(fromRow1, slots, RowRequest{rows, 0}).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(b->decodeStart(fromRow5, slots, RowRequest{rows, 0}).code(), StatusCode::kInvalidArgument);
    ASSERT_TRUE(b->decodeStart(fromRow0, slots, RowRequest{rows, 0}).isOk());
    EXPECT_EQ(b->decodeStart(fromHost, slots, RowRequest{rows, 0}).code(), StatusCode::kFailedPrecondition);
    ASSERT_TRUE(b->decodeFinish(&out).isOk());
    EXPECT_EQ(out.greedy.size(), 2u);
    EXPECT_EQ(out.logits.size(), static_cast<size_t>(kVocab));
    ASSERT_TRUE(b->decodeFinish(nullptr).isOk());  // a null `out` drops the outputs
    EXPECT_EQ(b->decodeFinish(&out).code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(b->slotViolations(), 0);
    // A slot of a step in flight must not be released.
    ASSERT_TRUE(b->decodeStart(fromHost, slots, RowRequest{rows, 0}).isOk());
    b->releaseSlot(1);
    EXPECT_EQ(b->slotViolations(), 1);
    ASSERT_TRUE(b->decodeFinish(&out).isOk());
    b->releaseSlot(0);
    EXPECT_EQ(b->slotViolations(), 1);
  }
}

// A step that fails to start leaves the step in flight to finish; a failed finish ends its step.
TEST(TwoPhaseDecode, FailuresLeaveTheOtherStepsIntact) {
  for (bool deferred : {false, true}) {
    SCOPED_TRACE(deferred ? "deferred" : "base");
    auto b = fake(deferred);
    prefillSequences(*b);
    const int32_t slots[] = {0};
    const RowOutput rows[] = {RowOutput::kGreedy};
    const DecodeInput host[] = {DecodeInput::host(3)}, prev[] = {DecodeInput::fromPrevious(0)};
    ASSERT_TRUE(b->decodeStart(host, slots, RowRequest{rows, 0}).isOk());
    b->failNextDecode();
    StepOutputs out;
    if (!deferred) {
      // The base implementation fails in decodeStart(): nothing started.
      EXPECT_EQ(b->decodeStart(prev, slots, RowRequest{rows, 0}).code(), StatusCode::kInternal);
      EXPECT_TRUE(b->decodeFinish(&out).isOk());
    } else {
      // The deferred fake fails the step at its finish; the step after it still runs.
      ASSERT_TRUE(b->decodeStart(prev, slots, RowRequest{rows, 0}).isOk());
      EXPECT_TRUE(b->decodeFinish(&out).isOk());
      EXPECT_EQ(b->decodeFinish(&out).code(), StatusCode::kInternal);
    }
    EXPECT_EQ(b->decodeFinish(&out).code(), StatusCode::kFailedPrecondition);
    ASSERT_TRUE(b->decodeStart(host, slots, RowRequest{rows, 0}).isOk());
    EXPECT_TRUE(b->decodeFinish(&out).isOk());
  }
}

}  // namespace
}  // namespace mamba
