#include "server/metrics/registry.h"

#include <set>

#include "server/metrics/text_format.h"

namespace mamba::metrics {
namespace {

Status validateNames(const std::string& name, const std::string& help,
                     const std::vector<std::string>& labelNames, MetricType type) {
  if (!isValidMetricName(name)) {
    return invalidArgument("invalid metric name '" + name +
                           "' (must match [a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  if (!isValidUtf8(help)) return invalidArgument("help text of " + name + " is not valid UTF-8");
  std::set<std::string> seen;
  for (const auto& label : labelNames) {
    if (!isValidLabelName(label)) {
      return invalidArgument("metric " + name + ": invalid label name '" + label +
                             "' (must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __)");
    }
    if (type == MetricType::kHistogram && label == "le") {
      return invalidArgument("histogram " + name + " may not use the reserved label 'le'");
    }
    if (!seen.insert(label).second) {
      return invalidArgument("metric " + name + ": duplicate label name '" + label + "'");
    }
  }
  return Status::ok();
}

// Series names a family writes (the family name itself included, for its # TYPE line).
std::vector<std::string> seriesNames(const std::string& name, MetricType type) {
  if (type == MetricType::kHistogram) {
    return {name, name + "_bucket", name + "_sum", name + "_count"};
  }
  return {name};
}

bool sameConfig(const Counter::Config&, const Counter::Config&) { return true; }
bool sameConfig(const Gauge::Config&, const Gauge::Config&) { return true; }
bool sameConfig(const Histogram::Config& a, const Histogram::Config& b) {
  return a->bounds == b->bounds;
}

std::string joinLabels(const std::vector<std::string>& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) out += (i ? "," : "") + labels[i];
  return out + "}";
}

}  // namespace

template <typename T>
StatusOr<Family<T>*> Registry::getOrCreate(const std::string& name, const std::string& help,
                                           const std::vector<std::string>& labelNames,
                                           typename T::Config config) {
  MAMBA_RETURN_IF_ERROR(validateNames(name, help, labelNames, T::kType));
  std::unique_lock lock(mutex_);
  if (auto it = families_.find(name); it != families_.end()) {
    FamilyBase* existing = it->second.get();
    if (existing->type() != T::kType) {
      return Status(StatusCode::kAlreadyExists,
                    "metric " + name + " is already registered as a " +
                        metricTypeName(existing->type()) + ", not a " + metricTypeName(T::kType));
    }
    auto* family = static_cast<Family<T>*>(existing);
    if (family->labelNames() != labelNames) {
      return Status(StatusCode::kAlreadyExists,
                    "metric " + name + " is already registered with labels " +
                        joinLabels(family->labelNames()) + ", not " + joinLabels(labelNames));
    }
    if (!sameConfig(family->config(), config)) {
      return Status(StatusCode::kAlreadyExists,
                    "metric " + name + " is already registered with different buckets");
    }
    return family;
  }
  const std::vector<std::string> series = seriesNames(name, T::kType);
  for (const auto& s : series) {
    if (auto it = seriesOwner_.find(s); it != seriesOwner_.end()) {
      return Status(StatusCode::kAlreadyExists, "metric " + name + " would expose series " + s +
                                                    ", which belongs to metric " + it->second);
    }
  }
  auto family = std::make_unique<Family<T>>(name, help, labelNames, std::move(config));
  Family<T>* raw = family.get();
  families_.emplace(name, std::move(family));
  for (const auto& s : series) seriesOwner_.emplace(s, name);
  return raw;
}

StatusOr<CounterFamily*> Registry::counter(const std::string& name, const std::string& help,
                                           const std::vector<std::string>& labelNames) {
  return getOrCreate<Counter>(name, help, labelNames, Counter::Config{});
}

StatusOr<GaugeFamily*> Registry::gauge(const std::string& name, const std::string& help,
                                       const std::vector<std::string>& labelNames) {
  return getOrCreate<Gauge>(name, help, labelNames, Gauge::Config{});
}

StatusOr<HistogramFamily*> Registry::histogram(const std::string& name, const std::string& help,
                                               const std::vector<std::string>& labelNames,
                                               std::vector<double> buckets) {
  auto config = Histogram::makeConfig(std::move(buckets));
  if (!config.isOk()) return config.status().withContext("metric " + name);
  return getOrCreate<Histogram>(name, help, labelNames, std::move(config).value());
}

void Registry::addCollector(Collector collector) {
  std::lock_guard lock(collectorsMutex_);
  collectors_.push_back(std::move(collector));
}

std::string Registry::exposeText() {
  std::lock_guard scrapeLock(scrapeMutex_);
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(collectorsMutex_);
    collectors = collectors_;
  }
  for (auto& collect : collectors) collect(*this);

  std::string out;
  std::shared_lock lock(mutex_);
  for (const auto& [name, family] : families_) family->appendText(out);
  return out;
}

std::vector<std::string> Registry::familyNames() const {
  std::shared_lock lock(mutex_);
  std::vector<std::string> names;
  names.reserve(families_.size());
  for (const auto& [name, family] : families_) names.push_back(name);
  return names;
}

}  // namespace mamba::metrics
