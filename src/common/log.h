// Logging: one line per event, to stderr in the foreground or to syslog once
// the daemon has detached. Lines say what happened and, for errors, what to do.
//
//   LOG(kWarning, "commit of %s failed: %s; retrying in %ds", name, err, secs);
#ifndef IMMICHFS_COMMON_LOG_H_
#define IMMICHFS_COMMON_LOG_H_

#include "absl/strings/string_view.h"

#include "absl/strings/str_format.h"

namespace immichfs {

enum class LogLevel { kError = 0, kWarning = 1, kInfo = 2, kDebug = 3 };

// Parses "error", "warning", "info", "debug". Returns false on anything else.
bool ParseLogLevel(absl::string_view text, LogLevel* level);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// After the daemon detaches, stderr goes nowhere: send lines to syslog instead.
void LogToSyslog(bool on);
void LogLine(LogLevel level, absl::string_view line);

inline bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) <= static_cast<int>(GetLogLevel());
}

}  // namespace immichfs

#define LOG(level, ...)                                               \
  do {                                                                \
    if (::immichfs::LogEnabled(::immichfs::LogLevel::level)) {        \
      ::immichfs::LogLine(::immichfs::LogLevel::level,                \
                          ::absl::StrFormat(__VA_ARGS__));            \
    }                                                                 \
  } while (0)

#endif  // IMMICHFS_COMMON_LOG_H_
