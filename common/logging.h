// Process-wide logging setup (spdlog, synchronous, one line per write on stderr).
//
// Contract: the supervisor calls openLogFile() (only with --log-file / [log] file) and then
// setupLogging() once at start-up (an exec'd preforkd-worker at its start). setupLogging()
// drops every existing logger and builds a fresh synchronous one; there are no logging threads
// anywhere. A forked worker calls relabelLogging() right after fork instead: it keeps the
// logger it inherited (one thread, synchronous: no lock can be held across fork) and only
// changes what its lines say and the level, so building a logger costs it no memory of its
// own. Lines name the role and pid, e.g. "[worker 1234]". Never logs from a signal handler.
//
// Destinations, decided by what fd 2 is:
//  - a log file: openLogFile() opens it O_APPEND and moves it onto fd 2, so the supervisor,
//    forked workers, exec'd workers in any language and even a crash message all append to
//    the same file; reopenLogs() (SIGUSR1, `reopen-logs`) opens the path again after logrotate
//    moved the file and swaps it onto fd 2 atomically (dup2). Workers forked afterwards write
//    to the new file; a worker may call reopenLogs() itself (the path survives fork).
//  - journald: when $JOURNAL_STREAM names fd 2's device and inode (systemd set up stderr as a
//    journal stream), lines carry a syslog priority prefix `<N>` and no timestamp (the journal
//    has its own): critical 2, error 3, warn 4, info 6, debug and trace 7.
//  - anything else (a terminal, a pipe): "YYYY-mm-dd HH:MM:SS.mmm [role pid] level: text".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace preforkd {

enum class LogFormat { Human, Journal };

// Opens `path` for appending (created 0640) and makes it this process's stderr. Returns ""
// or why it failed (stderr is then unchanged). Remembers the path for reopenLogs(). An empty
// path forgets any log file (stderr stays what it is).
std::string openLogFile(const std::string& path);

// The log file given to openLogFile(), or "".
const std::string& logFilePath();

void setupLogging(std::string_view role, spdlog::level::level_enum level);

// In a child forked after setupLogging(): its lines say `role` and its own pid from now on,
// at `level`. Allocates and frees nothing (the pages the inherited logger lives on stay shared
// with the parent). Without an earlier setupLogging() in this process it is setupLogging().
void relabelLogging(std::string_view role, spdlog::level::level_enum level);

// Reopens the log file (after logrotate moved it). A no-op while logging goes to stderr only.
// Returns "" or why it failed (logging continues to the old file either way).
std::string reopenLogs();

// What setupLogging() would choose now: Journal when $JOURNAL_STREAM matches fd 2 and no log
// file is in use.
LogFormat detectLogFormat();

// True when `journal_stream` ("DEV:INODE", as systemd sets $JOURNAL_STREAM) names `fd`.
bool journalStreamMatches(const char* journal_stream, int fd);

// The syslog priority journald gets for a level (`<N>` prefix).
int syslogPriority(spdlog::level::level_enum level);

// Parses "trace|debug|info|warn|error|critical|off"; logLevelName() is the inverse.
std::optional<spdlog::level::level_enum> parseLogLevel(std::string_view text);
const char* logLevelName(spdlog::level::level_enum level);

}  // namespace preforkd
