// Logging: the journald priority prefix, the human format, and a log file that follows
// logrotate (rename, reopen, new lines in the new file). These tests point this process's
// fd 2 at files and put it back afterwards.
#include "common/logging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A temporary directory; while alive, fd 2 is saved and restored (with the logger) at the end.
class StderrRedirect {
 public:
  StderrRedirect() {
    char tmpl[] = "/tmp/preforkd-logging-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    saved_ = ::dup(STDERR_FILENO);
    saved_journal_ = std::getenv("JOURNAL_STREAM") ? std::getenv("JOURNAL_STREAM") : "";
  }
  ~StderrRedirect() {
    openLogFile("");  // forget any log file a test opened
    ::dup2(saved_, STDERR_FILENO);
    ::close(saved_);
    if (saved_journal_.empty()) {
      ::unsetenv("JOURNAL_STREAM");
    } else {
      ::setenv("JOURNAL_STREAM", saved_journal_.c_str(), 1);
    }
    setupLogging("test", spdlog::level::info);
    std::filesystem::remove_all(dir_);
  }
  StderrRedirect(const StderrRedirect&) = delete;
  StderrRedirect& operator=(const StderrRedirect&) = delete;

  // Points fd 2 at a new file `name` in the directory; returns its path.
  std::string toFile(const std::string& name) {
    const std::string path = dir_ + "/" + name;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, STDERR_FILENO);
    ::close(fd);
    return path;
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int saved_ = -1;
  std::string saved_journal_;
};

void logOneOfEach() {
  spdlog::trace("t");
  spdlog::debug("d");
  spdlog::info("i");
  spdlog::warn("w");
  spdlog::error("e");
  spdlog::critical("c");
}

TEST(Logging, JournalLinesCarryThePriorityAndNoTimestamp) {
  StderrRedirect redirect;
  const std::string path = redirect.toFile("journal");
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
  EXPECT_EQ(detectLogFormat(), LogFormat::Journal);
  setupLogging("role", spdlog::level::trace);
  logOneOfEach();
  const std::string pid = std::to_string(::getpid());
  EXPECT_EQ(readFile(path), "<7>[role " + pid + "] trace: t\n"
                            "<7>[role " + pid + "] debug: d\n"
                            "<6>[role " + pid + "] info: i\n"
                            "<4>[role " + pid + "] warning: w\n"
                            "<3>[role " + pid + "] error: e\n"
                            "<2>[role " + pid + "] critical: c\n");
}

TEST(Logging, HumanFormatWhenTheJournalStreamIsSomethingElse) {
  StderrRedirect redirect;
  const std::string path = redirect.toFile("human");
  for (const char* stream : {"", "1:2", "garbage", "12:34:56"}) {
    ::setenv("JOURNAL_STREAM", stream, 1);
    EXPECT_EQ(detectLogFormat(), LogFormat::Human) << stream;
  }
  ::unsetenv("JOURNAL_STREAM");
  setupLogging("role", spdlog::level::info);
  logOneOfEach();
  const std::string text = readFile(path);
  const std::regex line(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[role \d+\] (info|warning|error|critical): [iwec]\n)");
  std::size_t lines = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it) ++lines;
  EXPECT_EQ(lines, 4u) << text;  // trace and debug are below the level
  EXPECT_EQ(text.find('<'), std::string::npos) << text;
}

TEST(Logging, AForkedChildRelabelsTheLoggerItInherited) {
  StderrRedirect redirect;
  const std::string path = redirect.toFile("forked");
  ::unsetenv("JOURNAL_STREAM");
  setupLogging("parent", spdlog::level::info);
  spdlog::info("before");
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    relabelLogging("child", spdlog::level::warn);
    spdlog::info("filtered");  // below the child's level
    spdlog::warn("from the child");
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  spdlog::info("after");  // the parent's label and level are its own
  const std::string text = readFile(path);
  const std::string me = std::to_string(::getpid()), kid = std::to_string(child);
  EXPECT_NE(text.find("[parent " + me + "] info: before\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[child " + kid + "] warning: from the child\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[parent " + me + "] info: after\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("filtered"), std::string::npos) << text;
}

TEST(Logging, PriorityTable) {
  const std::pair<spdlog::level::level_enum, int> cases[] = {
      {spdlog::level::trace, 7}, {spdlog::level::debug, 7},    {spdlog::level::info, 6},
      {spdlog::level::warn, 4},  {spdlog::level::err, 3},      {spdlog::level::critical, 2},
  };
  for (const auto& [level, priority] : cases) EXPECT_EQ(syslogPriority(level), priority);
  for (const char* name : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    EXPECT_STREQ(logLevelName(*parseLogLevel(name)), name);
  }
}

TEST(Logging, LogFileFollowsRotation) {
  StderrRedirect redirect;
  redirect.toFile("terminal");
  const std::string path = redirect.dir() + "/preforkd.log";
  ASSERT_EQ(openLogFile(path), "");
  EXPECT_EQ(logFilePath(), path);
  // Even with a journal stream around, a log file gets the human format.
  EXPECT_EQ(detectLogFormat(), LogFormat::Human);
  setupLogging("role", spdlog::level::info);
  spdlog::info("before rotation");

  const std::string rotated = path + ".1";
  ASSERT_EQ(::rename(path.c_str(), rotated.c_str()), 0);
  spdlog::info("after the rename, before the reopen");  // still the old file: same inode
  ASSERT_EQ(reopenLogs(), "");
  spdlog::info("after the reopen");

  const std::string old_text = readFile(rotated);
  const std::string new_text = readFile(path);
  EXPECT_NE(old_text.find("before rotation"), std::string::npos) << old_text;
  EXPECT_NE(old_text.find("after the rename"), std::string::npos) << old_text;
  EXPECT_EQ(old_text.find("after the reopen"), std::string::npos) << old_text;
  EXPECT_NE(new_text.find("after the reopen"), std::string::npos) << new_text;
  EXPECT_EQ(new_text.find("before"), std::string::npos) << new_text;
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  EXPECT_EQ(::fcntl(STDERR_FILENO, F_GETFD) & FD_CLOEXEC, 0) << "exec'd workers inherit fd 2";
  EXPECT_TRUE(::fcntl(STDERR_FILENO, F_GETFL) & O_APPEND);

  // The path became a directory: the reopen fails and logging goes on where it was.
  std::filesystem::remove(path);
  std::filesystem::create_directory(path);
  const std::string error = reopenLogs();
  EXPECT_NE(error.find("cannot open log file " + path), std::string::npos) << error;
  spdlog::info("still logging");
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  EXPECT_EQ(st.st_nlink, 0u) << "fd 2 is still the (now unlinked) file opened by the reopen";

  // Without a log file, reopening does nothing.
  ASSERT_EQ(openLogFile(""), "");
  EXPECT_EQ(logFilePath(), "");
  EXPECT_EQ(reopenLogs(), "");
}

}  // namespace
}  // namespace preforkd
