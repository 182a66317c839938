// Minimal leveled logging to stderr, shared by the server layers.
//
//   MAMBA_LOG(kInfo) << "listening on " << address;
//
// One line per message: "2026-01-02T03:04:05.678Z I message". Lines below the global level
// are not formatted. Thread-safe; lines from different threads never interleave.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace mamba {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug" | "info" | "warning" | "error" (also "warn"); nullopt for anything else.
std::optional<LogLevel> parseLogLevel(std::string_view name);
const char* logLevelName(LogLevel level);

void setLogLevel(LogLevel level);
LogLevel logLevel();
inline bool logEnabled(LogLevel level) { return level >= logLevel(); }

// Writes one line (a trailing newline is added).
void logLine(LogLevel level, std::string_view message);

// Collects one line and writes it on destruction.
class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { logLine(level_, stream_.str()); }
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace mamba

#define MAMBA_LOG(level)                                    \
  if (!::mamba::logEnabled(::mamba::LogLevel::level)) {     \
  } else                                                    \
    ::mamba::LogMessage(::mamba::LogLevel::level).stream()
