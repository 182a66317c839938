#include "server/metrics/family.h"

#include "server/metrics/text_format.h"

namespace mamba::metrics {

Status FamilyBase::checkLabelValues(const std::vector<std::string>& values) const {
  if (values.size() != labelNames_.size()) {
    return invalidArgument("metric " + name_ + " has " + std::to_string(labelNames_.size()) +
                           " label(s) but " + std::to_string(values.size()) +
                           " value(s) were given");
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (!isValidUtf8(values[i])) {
      return invalidArgument("metric " + name_ + ": value of label " + labelNames_[i] +
                             " is not valid UTF-8");
    }
  }
  return Status::ok();
}

std::string FamilyBase::makeLabelBlock(const std::vector<std::string>& values) const {
  std::string block;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) block += ',';
    block += labelNames_[i];
    block += "=\"";
    block += escapeLabelValue(values[i]);
    block += '"';
  }
  return block;
}

void FamilyBase::appendHeader(std::string& out) const {
  out += "# HELP ";
  out += name_;
  out += ' ';
  out += escapeHelp(help_);
  out += "\n# TYPE ";
  out += name_;
  out += ' ';
  out += metricTypeName(type_);
  out += '\n';
}

}  // namespace mamba::metrics
