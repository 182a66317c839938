#include "tests/engine/two_phase_trace.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "tests/engine/test_support.h"

namespace mamba::test {
namespace {

constexpr size_t kSeqs = 3;
constexpr int32_t kPromptVocab = 64;

std::vector<int32_t> slotsOf(int s, bool rotate) {
  std::vector<int32_t> slots;
  for (size_t k = 0; k < kSeqs; ++k) {
    slots.push_back(static_cast<int32_t>((k + (rotate ? static_cast<size_t>(s) : 0)) % kSeqs));
  }
  return slots;
}

RowOutput kindOf(int s, int32_t slot) { return slot == 2 && s % 3 == 1 ? RowOutput::kLogits : RowOutput::kGreedy; }

// Prefills the sequences (slots 0..2) and returns their first tokens (greedy); takes slot 3.
std::vector<int32_t> prefillSequences(ModelBackend& b) {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<PrefillItem> items;
  for (size_t i = 0; i < kSeqs; ++i) prompts.push_back(promptIds(3 + 2 * i, 40 + static_cast<uint32_t>(i), kPromptVocab));
  for (size_t i = 0; i < kSeqs; ++i) {
    const std::optional<int32_t> slot = b.acquireSlot();
    EXPECT_EQ(slot, static_cast<int32_t>(i));
    items.push_back(PrefillItem{prompts[i], static_cast<int32_t>(i), false});
  }
  std::vector<RowOutput> rows(kSeqs, RowOutput::kGreedy);
  StepOutputs out;
  EXPECT_TRUE(b.prefill(items, RowRequest{rows, 0}, &out).isOk());
  std::vector<int32_t> first;
  for (const GreedyPick& p : out.greedy) first.push_back(p.token);
  EXPECT_EQ(b.acquireSlot(), 3);
  return first;
}

// A prefill of slot 3 that asks for its logits (so that it reuses the backend's buffers).
void prefillBystander(ModelBackend& b, int s) {
  const std::vector<int32_t> tokens = promptIds(2, 90 + static_cast<uint32_t>(s), kPromptVocab);
  const PrefillItem item{tokens, 3, s > 0};
  const RowOutput rows[] = {RowOutput::kLogits};
  StepOutputs out;
  EXPECT_TRUE(b.prefill(std::span<const PrefillItem>(&item, 1), RowRequest{rows, 0}, &out).isOk());
}

RowResult rowOf(const StepOutputs& out, RowOutput kind, size_t k, size_t logitsIndex, int64_t vocab) {
  RowResult r;
  r.kind = kind;
  if (kind == RowOutput::kGreedy) r.pick = out.greedy.at(k);
  if (kind == RowOutput::kLogits) {
    const auto row = out.logits.subspan(logitsIndex * static_cast<size_t>(vocab), static_cast<size_t>(vocab));
    r.logits.assign(row.begin(), row.end());
  }
  return r;
}

// The token a sequence feeds next after `r` (after a kLogits row: the host's greedy pick).
int32_t nextToken(const RowResult& r, int32_t greedyVocab) {
  if (r.kind == RowOutput::kGreedy) return r.pick.token;
  return greedyPick(std::span<const float>(r.logits).first(static_cast<size_t>(greedyVocab))).token;
}

}  // namespace

bool RowResult::operator==(const RowResult& o) const {
  return kind == o.kind && pick.token == o.pick.token &&
         std::memcmp(&pick.logprob, &o.pick.logprob, sizeof(float)) == 0 && logits == o.logits;
}

Trace runWithDecode(ModelBackend& b, int steps, int32_t greedyVocab, bool rotate) {
  const int64_t vocab = b.info().vocabSize;
  const int32_t gv = greedyVocab > 0 ? greedyVocab : static_cast<int32_t>(vocab);
  std::vector<int32_t> first = prefillSequences(b);
  std::map<int32_t, int32_t> next;
  for (size_t i = 0; i < kSeqs; ++i) next[static_cast<int32_t>(i)] = first[i];
  Trace trace;
  for (int s = 0; s < steps; ++s) {
    const std::vector<int32_t> slots = slotsOf(s, rotate);
    std::vector<int32_t> tokens;
    std::vector<RowOutput> rows;
    for (int32_t slot : slots) {
      tokens.push_back(next[slot]);
      rows.push_back(kindOf(s, slot));
    }
    StepOutputs out;
    EXPECT_TRUE(b.decode(tokens, slots, RowRequest{rows, greedyVocab}, &out).isOk());
    std::map<int32_t, RowResult> step;
    size_t j = 0;
    for (size_t k = 0; k < slots.size(); ++k) {
      step[slots[k]] = rowOf(out, rows[k], k, j, vocab);
      if (rows[k] == RowOutput::kLogits) ++j;
      next[slots[k]] = nextToken(step[slots[k]], gv);
    }
    trace.push_back(std::move(step));
    prefillBystander(b, s);
  }
  return trace;
}

Trace runTwoPhase(ModelBackend& b, int steps, int32_t greedyVocab, bool rotate) {
  const int64_t vocab = b.info().vocabSize;
  const int32_t gv = greedyVocab > 0 ? greedyVocab : static_cast<int32_t>(vocab);
  std::vector<int32_t> first = prefillSequences(b);
  std::map<int32_t, int32_t> hostToken;  // slot -> its next token, once on the host
  for (size_t i = 0; i < kSeqs; ++i) hostToken[static_cast<int32_t>(i)] = first[i];
  Trace trace(static_cast<size_t>(steps));
  int finished = 0;
  auto finishOne = [&] {
    const int s = finished++;
    StepOutputs out;
    EXPECT_TRUE(b.decodeFinish(&out).isOk()) << "step " << s;
    const std::vector<int32_t> slots = slotsOf(s, rotate);
    size_t j = 0;
    for (size_t k = 0; k < slots.size(); ++k) {
      const RowOutput kind = kindOf(s, slots[k]);
      RowResult& r = trace[static_cast<size_t>(s)][slots[k]];
      r = rowOf(out, kind, k, j, vocab);
      if (kind == RowOutput::kLogits) ++j;
      hostToken[slots[k]] = nextToken(r, gv);
    }
  };
  for (int s = 0; s < steps; ++s) {
    const std::vector<int32_t> slots = slotsOf(s, rotate);
    if (finished < s) {
      // Step s-1 is in flight. Its greedy rows feed this step on the device; its kLogits row
      // needs the host's pick, so then it finishes first.
      bool needHost = false;
      for (int32_t slot : slotsOf(s - 1, rotate)) needHost = needHost || kindOf(s - 1, slot) == RowOutput::kLogits;
      if (needHost) finishOne();
    }
    std::vector<DecodeInput> inputs;
    std::vector<RowOutput> rows;
    for (int32_t slot : slots) {
      rows.push_back(kindOf(s, slot));
      if (finished < s) {
        const std::vector<int32_t> prev = slotsOf(s - 1, rotate);
        const auto row = std::find(prev.begin(), prev.end(), slot) - prev.begin();
        inputs.push_back(DecodeInput::fromPrevious(static_cast<int32_t>(row)));
      } else {
        inputs.push_back(DecodeInput::host(hostToken[slot]));
      }
    }
    EXPECT_TRUE(b.decodeStart(inputs, slots, RowRequest{rows, greedyVocab}).isOk()) << "step " << s;
    prefillBystander(b, s);
    if (finished < s) finishOne();
  }
  while (finished < steps) finishOne();
  return trace;
}

void expectSameTraces(const Trace& want, const Trace& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t s = 0; s < want.size(); ++s) {
    for (const auto& [slot, row] : want[s]) {
      ASSERT_TRUE(got[s].count(slot)) << "step " << s << " slot " << slot;
      const RowResult& other = got[s].at(slot);
      EXPECT_TRUE(row == other) << "step " << s << " slot " << slot << ": token " << row.pick.token << " vs "
                                << other.pick.token << ", logprob " << row.pick.logprob << " vs "
                                << other.pick.logprob;
    }
  }
}

}  // namespace mamba::test
