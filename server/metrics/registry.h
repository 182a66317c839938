// Registry: owns metric families and renders them in the Prometheus text format.
//
// The surface mirrors prometheus-cpp (Registry, Family<T>, Counter, Gauge, Histogram) so that
// it could replace this module: register a family once, then take a child per label-value
// tuple with Family::withLabels() and keep the pointer for the hot path.
//
//   Registry registry;
//   auto ttft = registry.histogram("mamba_request_ttft_seconds", "Time to first token.",
//                                  {"model", "variant"}, defaultLatencyBuckets());
//   Histogram* h = (*ttft)->withLabels({"mamba2-130m", "dense"}).value();
//   h->observe(0.012);
//
// Registration rules: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]* without a leading "__", no duplicate label names, and histograms may
// not use the label "le". Registering an existing name again with the same type, label names
// (and buckets) returns the existing family (its first help text stays); anything else, or a
// name that collides with the series of another family (a histogram "x" owns x_bucket, x_sum
// and x_count), is ALREADY_EXISTS.
//
// Threading: every method is safe from any thread. Families and children live as long as the
// Registry, which must outlive every pointer handed out.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/common/status.h"
#include "server/metrics/counter.h"
#include "server/metrics/family.h"
#include "server/metrics/gauge.h"
#include "server/metrics/histogram.h"

namespace mamba::metrics {

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

class Registry {
 public:
  // Runs at the start of every exposeText(), to refresh values computed at scrape time
  // (process statistics, pool occupancy). Collectors run one scrape at a time, in the order
  // they were added, on the scraping thread; they may register families and update metrics
  // but must not call exposeText().
  using Collector = std::function<void(Registry&)>;

  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  StatusOr<CounterFamily*> counter(const std::string& name, const std::string& help,
                                   const std::vector<std::string>& labelNames = {});
  StatusOr<GaugeFamily*> gauge(const std::string& name, const std::string& help,
                               const std::vector<std::string>& labelNames = {});
  // `buckets`: upper bounds, strictly increasing; +Inf is implicit (see Histogram).
  StatusOr<HistogramFamily*> histogram(const std::string& name, const std::string& help,
                                       const std::vector<std::string>& labelNames,
                                       std::vector<double> buckets);

  void addCollector(Collector collector);

  // Runs the collectors, then renders every family in text format 0.0.4, families sorted by
  // name and children by label values, so equal states give byte-identical text.
  std::string exposeText();

  // Registered family names, sorted.
  std::vector<std::string> familyNames() const;

 private:
  template <typename T>
  StatusOr<Family<T>*> getOrCreate(const std::string& name, const std::string& help,
                                   const std::vector<std::string>& labelNames,
                                   typename T::Config config);

  mutable std::shared_mutex mutex_;  // Guards families_ and seriesOwner_.
  std::map<std::string, std::unique_ptr<FamilyBase>> families_;
  std::unordered_map<std::string, std::string> seriesOwner_;  // Series name -> family name.

  std::mutex scrapeMutex_;  // One exposeText() at a time.
  std::mutex collectorsMutex_;
  std::vector<Collector> collectors_;
};

}  // namespace mamba::metrics
