// End-to-end test harness: runs the real preforkd binary and talks to it like a user would.
//
// Contract:
//  - PreforkdProcess starts PREFORKD_BINARY in its own process group, its own temporary
//    directory (/tmp/preforkd-e2e-XXXXXX, also its working directory) and a control socket
//    inside it. stderr and stdout are drained by a thread into buffers guarded by a mutex and
//    a condition variable, so waiting for a log line never polls with sleeps. Exit is awaited
//    with pidfd_open(2) + poll(2).
//  - The destructor stops a still-running supervisor (SIGTERM, then SIGKILL for the whole
//    group), reaps it, checks that no process of its group is left (adding a test failure if
//    one is, and killing it), checks for sanitizer reports (below), and removes the temporary
//    directory. The test process makes itself a child subreaper, so workers orphaned by a
//    killed supervisor are reaped here too.
//  - Sanitizer reports: preforkd runs with ASAN_OPTIONS and UBSAN_OPTIONS extended by
//    log_path=DIR/sanitizer (after any options already in the environment, which are kept), so
//    in a sanitizer build every process of the tree (the supervisor, each forked worker, exec'd
//    workers, a hot upgrade's successor) writes its report to its own DIR/sanitizer.PID instead
//    of a stderr nobody reads to the end. UBSan linked beside ASan (GCC's separate libubsan)
//    ignores log_path and prints on stderr, so the captured stderr is searched for sanitizer
//    lines too. The destructor fails the test with the contents of any such file and with any
//    such line (checkSanitizerReports). In a build without sanitizers the variables are ignored
//    and nothing appears. (A process that dropped privileges with --user cannot create files
//    in the 0700 directory: its runtime then prints "ERROR: Can't open file: ..." on stderr,
//    which the stderr search finds, and exits.)
//  - Every wait is bounded; nothing here blocks for longer than the timeout it is given.
//  - Client is a blocking TCP client whose reads are bounded by poll(2).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/unique_fd.h"

namespace e2e {

using namespace std::chrono_literals;
using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

// ------------------------------------------------------------------ /proc helpers

struct FdEntry {
  int fd;
  std::string target;  // readlink of /proc/PID/fd/FD, e.g. "socket:[1234]", "/dev/null"
};

// The open descriptors of `pid`, sorted by number (empty if the process is gone).
std::vector<FdEntry> fdTargets(pid_t pid);
std::string describeFds(const std::vector<FdEntry>& fds);
// PPid from /proc/PID/status, or -1.
pid_t parentPid(pid_t pid);
// Process state letter from /proc/PID/stat ('R', 'S', 'T', 'Z', ...), or 0 if gone.
char processState(pid_t pid);
// Process group from /proc/PID/stat, or -1.
pid_t processGroup(pid_t pid);
bool processExists(pid_t pid);
// Live processes (any state, zombies included) whose parent is `pid`.
std::vector<pid_t> childPids(pid_t pid);
// Every process whose process group is `pgid`.
std::vector<pid_t> processGroupMembers(pid_t pgid);

// Waits (bounded) until `cond` holds, checking every `step`. Only for states that no event
// announces (a process gone, a counter reaching a value).
bool eventually(const std::function<bool()>& cond, Ms timeout = 5s, Ms step = 20ms);

// A temporary directory (/tmp/preforkd-e2e-XXXXXX) removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A number from a `show info` map, or UINT64_MAX when the key is missing.
std::uint64_t infoValue(const std::map<std::string, std::string>& info, const std::string& key);
// How many times `re` matches in `text` (e.g. a log line).
std::size_t countMatches(const std::string& text, const std::regex& re);

// Finds an executable in PATH; empty if none.
std::string findInPath(const std::string& name);

// ------------------------------------------------------------------ sanitizer reports

// `existing` (an ASAN_OPTIONS / UBSAN_OPTIONS value, or null) with log_path=`log_path`
// appended; the last setting of a flag wins, so an earlier log_path is overridden.
std::string withSanitizerLogPath(const char* existing, const std::string& log_path);
// The contents of every DIR/sanitizer.* file, each headed by its name; "" if there is none.
std::string readSanitizerReports(const std::string& dir);
// The lines of `text` that sanitizer runtimes print (an ASan, LSan or UBSan report, a
// "runtime error:", a report file that could not be opened).
std::vector<std::string> sanitizerLines(const std::string& text);
enum class AfterCheck { Keep, Consume };

// ------------------------------------------------------------------ the supervisor

struct WorkerRow {
  int slot = -1;
  pid_t pid = -1;
  std::string state;
  std::uint64_t served = 0;
  std::string conn;
};

struct ExitStatus {
  bool exited = false;  // false: timed out (still running)
  int wait_status = 0;  // as from waitpid
  std::string describe() const;
  bool exitedWith(int code) const;
};

// How PreforkdProcess fills in the flags a test did not give.
struct LaunchOptions {
  // Adds --listen 127.0.0.1:0 unless `args` has a --listen/-l of its own.
  bool default_listen = true;
  // Adds --control-socket DIR/control.sock unless `args` has --control-socket (then
  // control() uses the path given there).
  bool control_socket = true;
  // Adds --log-level debug, --idle-timeout 30s, --shutdown-timeout 5s, --max-line 4096
  // unless `args` sets them.
  bool default_flags = true;
  // Adds --allow-root-workers when the test runs as root (preforkd refuses to run workers as
  // root otherwise) unless `args` has --user or --allow-root-workers.
  bool allow_root_workers = true;
  // Starts preforkd through this command, e.g. {"/usr/bin/systemd-socket-activate", "-l",
  // "127.0.0.1:PORT"}: its first element is an absolute path, and it must exec preforkd in
  // place (same pid).
  std::vector<std::string> wrapper;
};

class PreforkdProcess {
 public:
  // Starts preforkd with `args` plus the defaults `options` asks for. Throws
  // std::runtime_error if the process cannot be started at all.
  explicit PreforkdProcess(std::vector<std::string> args = {}, LaunchOptions options = {});
  ~PreforkdProcess();
  PreforkdProcess(const PreforkdProcess&) = delete;
  PreforkdProcess& operator=(const PreforkdProcess&) = delete;

  // Waits for every `listening on` line and `ready:`; parses the ports.
  testing::AssertionResult waitReady(Ms timeout = 5s);

  // Waits for a stderr line matching `re` (searching complete lines from *cursor on, or from
  // the start). Returns the match groups ([0] is the whole match) and moves *cursor past the
  // matching line; nothing on timeout (or if stderr closed without a match).
  std::optional<std::vector<std::string>> waitForLog(const std::regex& re, Ms timeout,
                                                     std::size_t* cursor = nullptr);
  std::string log() const;     // stderr so far
  std::string stdoutText() const;
  // Every worker pid the supervisor logged as started ("started worker PID", debug level).
  std::vector<pid_t> loggedWorkerPids() const;

  pid_t pid() const { return pid_; }
  const std::string& dir() const { return dir_; }
  const std::string& controlPath() const { return control_path_; }
  // The bound addresses from the `listening on` lines, in order, and their ports.
  const std::vector<std::string>& listenAddresses() const { return listen_addresses_; }
  int port(std::size_t i = 0) const;

  // One control command; the response without its terminating empty line, or nothing on
  // timeout / connection failure.
  std::optional<std::string> control(std::string_view command, Ms timeout = 2s);
  std::map<std::string, std::string> info();  // `show info`; empty map on failure
  std::uint64_t infoNumber(const std::string& key);  // UINT64_MAX if missing
  std::vector<WorkerRow> workers();                  // `show workers`
  std::vector<pid_t> workerPids();
  // Polls `show info` (every 20 ms, bounded) until `pred` holds.
  testing::AssertionResult waitInfo(
      const std::function<bool(const std::map<std::string, std::string>&)>& pred,
      Ms timeout = 5s, const std::string& what = "condition");
  // conns_completed == n (the supervisor has processed the n-th Available).
  testing::AssertionResult waitCompleted(std::uint64_t n, Ms timeout = 5s);
  // Pool full: workers_total == n and workers_idle == n.
  testing::AssertionResult waitPoolFull(std::size_t n, Ms timeout = 5s);

  void signal(int sig);
  bool running();
  // Waits for the supervisor to exit (pidfd + poll) and reaps it; then waits (up to 2 s) for
  // its stdout/stderr to reach EOF, so log() is complete afterwards.
  ExitStatus waitExit(Ms timeout);
  // Live (not zombie) members of the supervisor's process group, other than the supervisor.
  std::vector<pid_t> leftoverProcesses() const;
  // Adds a (non-fatal) test failure quoting every sanitizer report of the tree so far: the
  // DIR/sanitizer.PID files and the sanitizer lines of stderr. With Consume, what was found is
  // not reported again (the files are removed, the stderr search moves past it): a test that
  // provokes a report on purpose wraps this call in EXPECT_NONFATAL_FAILURE.
  void checkSanitizerReports(AfterCheck after = AfterCheck::Keep);
  // Reaps members of the supervisor's group that were re-parented to the test process (it is
  // a child subreaper) and have exited.
  void reapOrphans();

 private:
  void spawn(const std::vector<std::string>& argv);
  void readerLoop();
  void stopReader();

  std::string dir_;
  std::string control_path_;
  pid_t pid_ = -1;
  preforkd::UniqueFd pidfd_;
  bool reaped_ = false;
  ExitStatus exit_status_;

  preforkd::UniqueFd err_pipe_, out_pipe_, wake_pipe_read_, wake_pipe_write_;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string err_buf_, out_buf_;
  std::size_t sanitizer_checked_ = 0;  // err_buf_ before this offset was searched already
  bool reader_done_ = false;

  std::vector<std::string> listen_addresses_;
  std::vector<int> ports_;
};

// ------------------------------------------------------------------ TCP client

class Client {
 public:
  Client() = default;
  ~Client() = default;
  Client(Client&&) = default;
  Client& operator=(Client&&) = default;

  testing::AssertionResult connect(int port, const std::string& host = "127.0.0.1");
  // A Unix stream socket (the control socket).
  testing::AssertionResult connectUnix(const std::string& path);
  bool connected() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }

  testing::AssertionResult send(std::string_view bytes);
  // A line up to CR LF (the terminator is removed); nothing on timeout or EOF.
  std::optional<std::string> readLine(Ms timeout = 2s);
  // Everything up to and including `needle`; nothing on timeout or EOF.
  std::optional<std::string> readUntil(std::string_view needle, Ms timeout = 2s);
  // Exactly n bytes; nothing on timeout or EOF.
  std::optional<std::string> readExactly(std::size_t n, Ms timeout = 2s);
  struct AllResult {
    std::string data;
    bool eof = false;    // the peer closed cleanly (FIN)
    int error = 0;       // errno if recv failed (e.g. ECONNRESET)
    bool timed_out = false;
  };
  // Until EOF (or error, or timeout).
  AllResult readAll(Ms timeout = 2s);
  // True if any byte (or EOF) arrives within `timeout`.
  bool readable(Ms timeout);
  const std::string& pending() const { return buf_; }
  void shutdownWrite();
  void close() { fd_.reset(); buf_.clear(); }

 private:
  // Receives once into buf_; 1 data, 0 EOF, -1 timeout, -2 error.
  int fill(SteadyClock::time_point deadline);

  preforkd::UniqueFd fd_;
  std::string buf_;
  bool eof_ = false;
  int error_ = 0;
};

// Banner: "preforkd echo service, worker pid <PID>, connection <ID>. Type 'help' ..."
struct Banner {
  pid_t pid = -1;
  std::uint64_t conn = 0;
};
std::optional<Banner> parseBanner(const std::string& line);
// Reads one line from `c` that must be the banner.
testing::AssertionResult readBanner(Client& c, Banner* out, Ms timeout = 3s);

// `args` followed by "--worker-exec <preforkd-test-worker> <worker...>" (tests/tools/test_worker.cpp).
std::vector<std::string> withTestWorker(std::vector<std::string> args,
                                        const std::vector<std::string>& worker);
// `pid` is gone, a zombie, or no longer anything of `supervisor`'s (the pid was reused).
bool goneFromTree(pid_t pid, pid_t supervisor);
// "12 34 56", for messages.
std::string joinPids(const std::vector<pid_t>& pids);

// Connects to the echo service, reads the banner, says quit, waits for Goodbye and EOF.
// Returns the banner or a failure.
testing::AssertionResult serveOne(int port, Banner* banner, const std::string& host = "127.0.0.1");

// Runs `argv` (argv[0] must be a path) with stdin /dev/null, collects stdout+stderr merged,
// kills it (SIGKILL, its whole process group) if it has not exited within `timeout`.
struct CommandResult {
  bool timed_out = false;
  int wait_status = 0;
  std::string output;
};
CommandResult runCommand(const std::vector<std::string>& argv, Ms timeout);

}  // namespace e2e
