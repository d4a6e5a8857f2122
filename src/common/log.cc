#include "common/log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace immichfs {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> g_syslog{false};

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "?";
}

int SyslogPriority(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return LOG_ERR;
    case LogLevel::kWarning: return LOG_WARNING;
    case LogLevel::kInfo: return LOG_INFO;
    case LogLevel::kDebug: return LOG_DEBUG;
  }
  return LOG_INFO;
}

}  // namespace

bool ParseLogLevel(absl::string_view text, LogLevel* level) {
  if (text == "error") *level = LogLevel::kError;
  else if (text == "warning" || text == "warn") *level = LogLevel::kWarning;
  else if (text == "info") *level = LogLevel::kInfo;
  else if (text == "debug") *level = LogLevel::kDebug;
  else return false;
  return true;
}

void SetLogLevel(LogLevel level) { g_level = static_cast<int>(level); }
LogLevel GetLogLevel() { return static_cast<LogLevel>(g_level.load()); }

void LogToSyslog(bool on) {
  if (on && !g_syslog) openlog("immichfs", LOG_PID, LOG_DAEMON);
  g_syslog = on;
}

void LogLine(LogLevel level, absl::string_view line) {
  if (g_syslog) {
    syslog(SyslogPriority(level), "%.*s", static_cast<int>(line.size()), line.data());
    return;
  }
  // One write() per line so that lines from different threads never interleave.
  std::string out = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()),
      " immichfs[", getpid(), "] ", LevelName(level), ": ", line, "\n");
  ssize_t ignored = write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}

}  // namespace immichfs
