#include "tests/engine/fake_backend.h"

#include <algorithm>

namespace mamba::test {

FakeBackend::FakeBackend(int64_t vocab, int64_t numSlots, std::vector<int32_t> eos)
    : used_(static_cast<size_t>(numSlots), false), state_(static_cast<size_t>(numSlots), 0) {
  info_.name = "fake";
  info_.variant = "dense";
  info_.vocabSize = vocab;
  info_.numSlots = numSlots;
  info_.stateBytesPerSequence = 8;
  info_.eosTokenIds = std::move(eos);
}

std::optional<int32_t> FakeBackend::acquireSlot() {
  for (size_t i = 0; i < used_.size(); ++i) {
    if (!used_[i]) {
      used_[i] = true;
      state_[i] = 0;
      return static_cast<int32_t>(i);
    }
  }
  return std::nullopt;
}

void FakeBackend::releaseSlot(int32_t slot) { used_[static_cast<size_t>(slot)] = false; }

int64_t FakeBackend::freeSlots() const {
  return static_cast<int64_t>(std::count(used_.begin(), used_.end(), false));
}

uint64_t FakeBackend::mix(uint64_t state, int32_t token) {
  return (state ^ static_cast<uint64_t>(token + 1)) * 0x100000001b3ULL + 0x9e3779b97f4a7c15ULL;
}

int32_t FakeBackend::argmaxOf(uint64_t state) const {
  return static_cast<int32_t>((state >> 29) % static_cast<uint64_t>(info_.vocabSize));
}

void FakeBackend::writeRow(uint64_t state, float* row) const {
  std::fill(row, row + info_.vocabSize, 0.f);
  row[argmaxOf(state)] = 1.f;
}

Status FakeBackend::prefill(std::span<const PrefillItem> items, std::vector<float>* lastLogits) {
  if (failDecode_.exchange(false)) return internalError("injected prefill failure");
  if (lastLogits) lastLogits->assign(items.size() * static_cast<size_t>(info_.vocabSize), 0.f);
  for (size_t i = 0; i < items.size(); ++i) {
    uint64_t& s = state_[static_cast<size_t>(items[i].slot)];
    if (!items[i].continueFromState) s = 0;
    for (int32_t t : items[i].tokens) s = mix(s, t);
    if (lastLogits) writeRow(s, lastLogits->data() + i * static_cast<size_t>(info_.vocabSize));
  }
  return Status::ok();
}

StatusOr<std::vector<ScoredToken>> FakeBackend::prefillScore(const PrefillItem& item,
                                                             std::span<const int32_t> targets) {
  uint64_t& s = state_[static_cast<size_t>(item.slot)];
  if (!item.continueFromState) s = 0;
  std::vector<ScoredToken> out;
  for (size_t i = 0; i < item.tokens.size(); ++i) {
    s = mix(s, item.tokens[i]);
    out.push_back({-1.f, argmaxOf(s) == targets[i]});
  }
  return out;
}

Status FakeBackend::decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                           std::vector<float>* logits) {
  if (failDecode_.exchange(false)) return internalError("injected decode failure");
  logits->assign(tokens.size() * static_cast<size_t>(info_.vocabSize), 0.f);
  for (size_t b = 0; b < tokens.size(); ++b) {
    uint64_t& s = state_[static_cast<size_t>(slots[b])];
    s = mix(s, tokens[b]);
    writeRow(s, logits->data() + b * static_cast<size_t>(info_.vocabSize));
  }
  return Status::ok();
}

std::vector<int32_t> FakeBackend::expected(std::span<const int32_t> prompt, size_t n, int64_t vocab) {
  FakeBackend b(vocab, 1);
  uint64_t s = 0;
  for (int32_t t : prompt) s = mix(s, t);
  std::vector<int32_t> out;
  for (size_t i = 0; i < n; ++i) {
    out.push_back(b.argmaxOf(s));
    s = mix(s, out.back());
  }
  return out;
}

RecordingBackend::RecordingBackend(std::unique_ptr<ModelBackend> inner, bool gated)
    : inner_(std::move(inner)), gated_(gated) {}

void RecordingBackend::record(Call call) {
  std::lock_guard lock(mutex_);
  calls_.push_back(std::move(call));
}

void RecordingBackend::gate() {
  std::unique_lock lock(mutex_);
  if (!gated_) return;
  gated_ = false;
  entered_ = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return open_; });
}

void RecordingBackend::waitEntered() {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return entered_; });
}

void RecordingBackend::open() {
  std::lock_guard lock(mutex_);
  open_ = true;
  cv_.notify_all();
}

Status RecordingBackend::prefill(std::span<const PrefillItem> items, std::vector<float>* lastLogits) {
  gate();
  Call c{Call::kPrefill, {}, {}, {}};
  for (const auto& it : items) {
    c.lengths.push_back(it.tokens.size());
    c.slots.push_back(it.slot);
    c.continued.push_back(it.continueFromState);
  }
  record(std::move(c));
  return inner_->prefill(items, lastLogits);
}

StatusOr<std::vector<ScoredToken>> RecordingBackend::prefillScore(const PrefillItem& item,
                                                                  std::span<const int32_t> targets) {
  gate();
  record(Call{Call::kScore, {item.tokens.size()}, {item.slot}, {item.continueFromState}});
  return inner_->prefillScore(item, targets);
}

Status RecordingBackend::decode(std::span<const int32_t> tokens, std::span<const int32_t> slots,
                                std::vector<float>* logits) {
  Call c{Call::kDecode, std::vector<size_t>(tokens.size(), 1), std::vector<int32_t>(slots.begin(), slots.end()), {}};
  record(std::move(c));
  return inner_->decode(tokens, slots, logits);
}

std::vector<RecordingBackend::Call> RecordingBackend::calls() const {
  std::lock_guard lock(mutex_);
  return calls_;
}

}  // namespace mamba::test
