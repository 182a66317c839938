// Family<T>: all series of one metric name, one child per distinct tuple of label values.
//
// Children are created on first use by withLabels() and live as long as the Family (that
// is, as long as the Registry); the returned pointer is stable, so hot paths look a child up
// once and keep the pointer. Lookup hashes the label values under a shared lock; creation
// takes the exclusive lock. withLabels() and appendText() are safe from any thread.
#pragma once

#include <algorithm>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/common/status.h"
#include "server/metrics/metric_type.h"

namespace mamba::metrics {

// The type-independent half of a family: identity, label handling, the # HELP/# TYPE header.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& labelNames() const { return labelNames_; }

  // Appends the family in text format 0.0.4: # HELP, # TYPE, then each child's samples in
  // lexicographic order of label values. A labelled family with no children appends nothing.
  virtual void appendText(std::string& out) const = 0;

 protected:
  FamilyBase(std::string name, std::string help, MetricType type,
             std::vector<std::string> labelNames)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        labelNames_(std::move(labelNames)) {}

  // INVALID_ARGUMENT unless there is one value per label name and every value is UTF-8.
  Status checkLabelValues(const std::vector<std::string>& values) const;
  // `name1="escaped1",name2="escaped2"`.
  std::string makeLabelBlock(const std::vector<std::string>& values) const;
  void appendHeader(std::string& out) const;

 private:
  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> labelNames_;
};

template <typename T>
class Family final : public FamilyBase {
 public:
  // Called by Registry, which has validated the names and the config.
  Family(std::string name, std::string help, std::vector<std::string> labelNames,
         typename T::Config config)
      : FamilyBase(std::move(name), std::move(help), T::kType, std::move(labelNames)),
        config_(std::move(config)) {
    // An unlabelled metric always exists (and exposes 0) from registration on.
    if (this->labelNames().empty()) (void)withLabels({});
  }

  // The child for `labelValues` (one per label name, in the order of labelNames()),
  // created on first use. INVALID_ARGUMENT on a wrong count or malformed UTF-8.
  StatusOr<T*> withLabels(const std::vector<std::string>& labelValues) {
    {
      std::shared_lock lock(mutex_);
      auto it = children_.find(labelValues);
      if (it != children_.end()) return it->second->metric.get();
    }
    MAMBA_RETURN_IF_ERROR(checkLabelValues(labelValues));
    auto child = std::make_unique<Child>();
    child->values = labelValues;
    child->labelBlock = makeLabelBlock(labelValues);
    child->metric = std::make_unique<T>(config_);
    std::unique_lock lock(mutex_);
    auto [it, inserted] = children_.try_emplace(labelValues, std::move(child));
    return it->second->metric.get();
  }

  const typename T::Config& config() const { return config_; }

  size_t size() const {
    std::shared_lock lock(mutex_);
    return children_.size();
  }

  void appendText(std::string& out) const override {
    std::vector<const Child*> sorted;
    std::shared_lock lock(mutex_);
    if (children_.empty()) return;
    sorted.reserve(children_.size());
    for (const auto& [key, child] : children_) sorted.push_back(child.get());
    std::sort(sorted.begin(), sorted.end(),
              [](const Child* a, const Child* b) { return a->values < b->values; });
    appendHeader(out);
    for (const Child* child : sorted) child->metric->appendSamples(out, name(), child->labelBlock);
  }

 private:
  struct Child {
    std::vector<std::string> values;
    std::string labelBlock;  // Escaped once, at creation.
    std::unique_ptr<T> metric;
  };
  struct ValuesHash {
    size_t operator()(const std::vector<std::string>& values) const {
      size_t h = values.size();
      for (const auto& v : values) {
        h ^= std::hash<std::string_view>{}(v) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
      }
      return h;
    }
  };

  typename T::Config config_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::vector<std::string>, std::unique_ptr<Child>, ValuesHash> children_;
};

}  // namespace mamba::metrics
