#include "common/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace preforkd {
namespace {

// Survives fork (plain memory), so a worker knows the file its stderr points to.
std::string& logFile() {
  static std::string path;
  return path;
}

// "role pid" of this process's lines ("%N" in a pattern). Plain memory rather than the
// logger's name, which is fixed when a logger is made: a forked worker rewrites this and keeps
// the logger it inherited (relabelLogging).
char g_tag[64];

void setTag(std::string_view role) {
  std::snprintf(g_tag, sizeof g_tag, "%.*s %d", static_cast<int>(role.size()), role.data(),
                static_cast<int>(::getpid()));
}

class TagFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    dest.append(g_tag, g_tag + std::strlen(g_tag));
  }
  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<TagFlag>();
  }
};

// "%*" in a pattern: the syslog priority digit of the line's level.
class SyslogPriorityFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    dest.push_back(static_cast<char>('0' + syslogPriority(msg.level)));
  }
  std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
    return std::make_unique<SyslogPriorityFlag>();
  }
};

// Opens `path` for appending and moves it onto fd 2; "" or why not.
std::string appendOntoStderr(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) return fmt::format("cannot open log file {}: {}", path, std::strerror(errno));
  // dup2 swaps fd 2 atomically: no line is ever written to a closed stderr. The copy on fd 2
  // is not close-on-exec, so exec'd workers inherit it as their stderr.
  std::string error;
  if (fd != STDERR_FILENO && ::dup2(fd, STDERR_FILENO) < 0) {
    error = fmt::format("cannot redirect stderr to {}: {}", path, std::strerror(errno));
  }
  if (fd != STDERR_FILENO) ::close(fd);
  return error;
}

}  // namespace

std::string openLogFile(const std::string& path) {
  if (path.empty()) {
    logFile().clear();
    return {};
  }
  std::string error = appendOntoStderr(path);
  if (error.empty()) logFile() = path;
  return error;
}

const std::string& logFilePath() { return logFile(); }

bool journalStreamMatches(const char* journal_stream, int fd) {
  if (journal_stream == nullptr || *journal_stream == '\0') return false;
  std::uintmax_t dev = 0, ino = 0;
  char tail = 0;
  if (std::sscanf(journal_stream, "%ju:%ju%c", &dev, &ino, &tail) != 2) return false;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  return static_cast<std::uintmax_t>(st.st_dev) == dev && static_cast<std::uintmax_t>(st.st_ino) == ino;
}

LogFormat detectLogFormat() {
  if (!logFile().empty()) return LogFormat::Human;
  return journalStreamMatches(std::getenv("JOURNAL_STREAM"), STDERR_FILENO) ? LogFormat::Journal
                                                                           : LogFormat::Human;
}

void setupLogging(std::string_view role, spdlog::level::level_enum level) {
  // Log timestamps are local time: load the zone now, so the first log line does not open
  // /usr/share/zoneinfo behind the caller's back (an exec'd worker would otherwise do it
  // after saying Ready, with an fd nobody expects).
  ::tzset();
  spdlog::drop_all();
  // Plain (uncoloured) stderr sink, unbuffered: one write per line, so lines of the
  // supervisor and its workers sharing one stderr (or one O_APPEND file) never interleave.
  setTag(role);
  auto logger = spdlog::stderr_logger_mt(std::string(role));
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<TagFlag>('N');
  if (detectLogFormat() == LogFormat::Journal) {
    formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("<%*>[%N] %l: %v");
  } else {
    formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e [%N] %l: %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

void relabelLogging(std::string_view role, spdlog::level::level_enum level) {
  if (g_tag[0] == '\0') {  // the parent never set up logging (a test): start from scratch
    setupLogging(role, level);
    return;
  }
  setTag(role);
  // Written only if it changes: even one store would give this child its own copy of the page.
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (logger->level() != level) logger->set_level(level);
}

std::string reopenLogs() {
  if (logFile().empty()) return {};  // stderr only: nothing to reopen
  return appendOntoStderr(logFile());
}

int syslogPriority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical: return 2;  // LOG_CRIT
    case spdlog::level::err: return 3;       // LOG_ERR
    case spdlog::level::warn: return 4;      // LOG_WARNING
    case spdlog::level::info: return 6;      // LOG_INFO
    default: return 7;                       // LOG_DEBUG: debug, trace
  }
}

namespace {
constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
    {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
    {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
    {"error", spdlog::level::err},   {"critical", spdlog::level::critical},
    {"off", spdlog::level::off},
};
}  // namespace

std::optional<spdlog::level::level_enum> parseLogLevel(std::string_view text) {
  for (const auto& [name, level] : kLevels) {
    if (name == text) return level;
  }
  return std::nullopt;
}

const char* logLevelName(spdlog::level::level_enum level) {
  for (const auto& [name, l] : kLevels) {
    if (l == level) return name.data();
  }
  return "info";
}

}  // namespace preforkd
