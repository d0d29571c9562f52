#include "tests/reliability/reliability_fixture.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

namespace e2e {
namespace {

const std::regex& severeLine() {
  static const std::regex re(R"(\] (critical|error): )");
  return re;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string pids(const std::vector<pid_t>& v) {
  std::string out;
  for (pid_t p : v) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

// Live (not zombie) children of `pid`.
std::vector<pid_t> liveChildren(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t c : childPids(pid)) {
    const char st = processState(c);
    if (st != 'Z' && st != 'X' && st != 0) out.push_back(c);
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ /proc measurements

long rssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("VmRSS:")) return std::atol(line.c_str() + 6);
  }
  return -1;
}

long cpuTicks(pid_t pid) {
  const std::string all = readFile("/proc/" + std::to_string(pid) + "/stat");
  const auto close = all.rfind(')');  // comm may contain spaces and parentheses
  if (close == std::string::npos) return -1;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {  // field numbers as in proc(5)
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

std::vector<pid_t> zombieChildren(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t c : childPids(pid)) {
    if (processState(c) == 'Z') out.push_back(c);
  }
  return out;
}

std::vector<FdIdentity> fdIdentities(pid_t pid) {
  std::vector<FdIdentity> out;
  for (const FdEntry& e : fdTargets(pid)) {
    FdIdentity id{e.fd, e.target, 0, 0};
    struct stat st {};
    const std::string link = "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(e.fd);
    if (::stat(link.c_str(), &st) != 0) continue;  // closed meanwhile
    id.dev = st.st_dev;
    id.ino = st.st_ino;
    out.push_back(id);
  }
  return out;
}

testing::AssertionResult workersShareNoDescriptor(pid_t supervisor,
                                                  const std::vector<pid_t>& workers) {
  using Key = std::pair<dev_t, ino_t>;
  std::map<Key, FdIdentity> theirs;
  for (const FdIdentity& f : fdIdentities(supervisor)) {
    // Stdio is shared on purpose (the log goes to fd 2); /dev/null is everyone's; anonymous
    // inodes all look alike (a worker must hold none, checked below).
    if (f.fd <= 2 || f.target == "/dev/null" || f.target.starts_with("anon_inode:")) continue;
    theirs.emplace(Key{f.dev, f.ino}, f);
  }
  std::string problems;
  std::map<Key, std::pair<pid_t, int>> seen_in_workers;
  for (pid_t w : workers) {
    for (const FdIdentity& f : fdIdentities(w)) {
      const Key key{f.dev, f.ino};
      if (f.target.starts_with("anon_inode:")) {
        problems += "\n  worker " + std::to_string(w) + " fd " + std::to_string(f.fd) + " is " +
                    f.target + " (a worker holds no event loop of the supervisor's)";
      }
      if (auto it = theirs.find(key); it != theirs.end()) {
        problems += "\n  worker " + std::to_string(w) + " fd " + std::to_string(f.fd) +
                    " is the supervisor's fd " + std::to_string(it->second.fd) + " (" +
                    f.target + ")";
      }
      if (f.fd <= 2 || f.target == "/dev/null") continue;
      const auto [it, fresh] = seen_in_workers.emplace(key, std::pair{w, f.fd});
      if (!fresh && it->second.first != w) {
        problems += "\n  worker " + std::to_string(w) + " fd " + std::to_string(f.fd) +
                    " is worker " + std::to_string(it->second.first) + "'s fd " +
                    std::to_string(it->second.second) + " (" + f.target + ")";
      }
    }
  }
  if (problems.empty()) return testing::AssertionSuccess();
  std::string dump = "\nsupervisor " + std::to_string(supervisor) + ":\n" +
                     describeFds(fdTargets(supervisor));
  for (pid_t w : workers) dump += "worker " + std::to_string(w) + ":\n" + describeFds(fdTargets(w));
  return testing::AssertionFailure() << "descriptors reachable from a worker:" << problems << dump;
}

std::vector<std::string> unexpectedLogLines(const std::string& log,
                                            const std::vector<std::regex>& expected) {
  std::vector<std::string> out;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    if (!std::regex_search(line, severeLine())) continue;
    const bool declared = std::any_of(expected.begin(), expected.end(), [&](const std::regex& re) {
      return std::regex_search(line, re);
    });
    if (!declared) out.push_back(line);
  }
  return out;
}

// ------------------------------------------------------------------ the fixture

testing::AssertionResult ReliabilityTest::launch(std::vector<std::string> args, std::size_t pool,
                                                 LaunchOptions options) {
  launchUnready(std::move(args), std::move(options));
  if (log_file_.empty()) {
    if (auto r = process_->waitReady(10s); !r) return r;
    port_ = process_->port();
  } else {
    // Nothing on stderr: the ready line is in the file, the port in `show info`.
    if (!eventually([&] { return readFile(log_file_).find("info: ready: ") != std::string::npos; }, 10s)) {
      return testing::AssertionFailure() << "no 'ready:' line in " << log_file_ << ":\n" << readFile(log_file_);
    }
    const auto info = process_->info();
    const auto it = info.find("listen");
    if (it == info.end()) return testing::AssertionFailure() << "no listen address in show info";
    port_ = std::stoi(it->second.substr(it->second.rfind(':') + 1));
  }
  return takeBaseline(pool);
}

PreforkdProcess& ReliabilityTest::launchUnready(std::vector<std::string> args,
                                                LaunchOptions options) {
  process_ = std::make_unique<PreforkdProcess>(std::move(args), std::move(options));
  return *process_;
}

pid_t ReliabilityTest::supervisorPid() const {
  return followed_ > 0 ? followed_ : (process_ ? process_->pid() : -1);
}

testing::AssertionResult ReliabilityTest::takeBaseline(std::size_t pool) {
  if (auto r = process_->waitPoolFull(pool, 10s); !r) return r;
  const pid_t pid = supervisorPid();
  Baseline b;
  b.pool = pool;
  // The control connection just used may still be open on the supervisor's side: settle.
  std::size_t last = 0;
  eventually([&] {
    const std::size_t now = fdTargets(pid).size();
    const bool stable = now == last;
    last = now;
    return stable;
  }, 2s, 50ms);
  b.supervisor_fds = last;
  for (pid_t w : liveChildren(pid)) b.worker_fds = std::max(b.worker_fds, fdTargets(w).size());
  b.rss_kib = rssKiB(pid);
  baseline_ = b;
  return testing::AssertionSuccess();
}

testing::AssertionResult ReliabilityTest::followSupervisor(pid_t pid, std::size_t pool) {
  followed_ = pid;
  return takeBaseline(pool);
}

std::string ReliabilityTest::newScratchDir() {
  scratch_.push_back(std::make_unique<TempDir>());
  return scratch_.back()->path();
}

void ReliabilityTest::expectLogLine(const std::string& pattern) {
  expected_lines_.emplace_back(pattern, std::regex(pattern));
}

void ReliabilityTest::figures(const std::string& scenario,
                              const std::vector<std::pair<std::string, std::string>>& values) {
  std::string line = "[figures] " + scenario + ":";
  for (const auto& [k, v] : values) {
    line += " " + k + "=" + v;
    RecordProperty(scenario + "." + k, v);
  }
  std::cout << line << std::endl;
}

void ReliabilityTest::auditProcesses() {
  const pid_t pid = supervisorPid();
  if (!processExists(pid) || processState(pid) == 'Z') return;
  std::string summary = "[audit] supervisor " + std::to_string(pid);
  if (baseline_) {
    const Baseline& b = *baseline_;
    EXPECT_TRUE(process_->waitPoolFull(b.pool, 10s)) << "the pool is not back to its size";
    std::size_t now = 0;
    const bool fds_ok = eventually([&] {
      now = fdTargets(pid).size();
      return now == b.supervisor_fds;
    }, 5s);
    EXPECT_TRUE(fds_ok) << "the supervisor holds " << now << " descriptors, " << b.supervisor_fds
                        << " at the baseline:\n" << describeFds(fdTargets(pid));
    std::string fat;
    const bool workers_ok = eventually([&] {
      fat.clear();
      for (pid_t w : liveChildren(pid)) {
        const auto fds = fdTargets(w);
        if (fds.size() > b.worker_fds) {
          fat += "worker " + std::to_string(w) + ":\n" + describeFds(fds);
        }
      }
      return fat.empty();
    }, 5s);
    EXPECT_TRUE(workers_ok) << "idle workers hold more than the " << b.worker_fds
                            << " descriptors they held at the baseline:\n" << fat;
    const long rss = rssKiB(pid);
    const long growth = rss - b.rss_kib;
    summary += " fds " + std::to_string(now) + " (baseline " + std::to_string(b.supervisor_fds) +
               "), rss " + std::to_string(rss) + " KiB (" + (growth >= 0 ? "+" : "") +
               std::to_string(growth) + " KiB)";
    // A loose bound for every scenario (the soak bounds growth tightly). ASan's quarantine
    // keeps freed memory resident, so RSS says nothing in a sanitizer build.
    if (!kSanitizedBuild) {
      EXPECT_LT(growth, 16 * 1024) << "the supervisor's RSS grew by " << growth << " KiB";
    }
  }
  std::vector<pid_t> zombies;
  const bool reaped = eventually([&] {
    zombies = zombieChildren(pid);
    return zombies.empty();
  }, 3s);
  EXPECT_TRUE(reaped) << "children of the supervisor left unreaped: " << pids(zombies);
  if (sharing_audit_) {
    testing::AssertionResult shared = testing::AssertionSuccess();
    // A hand-off in flight shares the client's socket until the worker's Taken arrives.
    eventually([&] {
      shared = workersShareNoDescriptor(pid, liveChildren(pid));
      return static_cast<bool>(shared);
    }, 3s);
    EXPECT_TRUE(shared);
  }
  std::cout << summary << ", zombies " << zombies.size() << std::endl;
}

void ReliabilityTest::stopSupervisor() {
  if (followed_ > 0) {
    if (!processExists(followed_)) return;
    ::kill(followed_, SIGTERM);
    int st = 0;
    const bool reaped = eventually([&] { return ::waitpid(followed_, &st, WNOHANG) == followed_; }, 15s);
    EXPECT_TRUE(reaped) << "supervisor " << followed_ << " still runs 15 s after SIGTERM";
    if (reaped) {
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
          << "supervisor " << followed_ << ": wait status " << st;
    } else {
      ::kill(followed_, SIGKILL);
      ::waitpid(followed_, &st, 0);
    }
    process_->reapOrphans();
    return;
  }
  if (!process_->running()) return;
  process_->signal(SIGTERM);
  const ExitStatus st = process_->waitExit(15s);
  EXPECT_TRUE(st.exitedWith(0)) << "after SIGTERM: " << st.describe();
}

void ReliabilityTest::scanLog() {
  std::string text = process_->log();
  std::vector<std::string> sanitizer;
  if (!log_file_.empty()) {
    // With a log file, stderr (searched by the harness) is empty: the runtimes print there.
    const std::string file = readFile(log_file_);
    text += file;
    sanitizer = sanitizerLines(file);
  }
  std::vector<std::regex> expected;
  for (const auto& [source, re] : expected_lines_) expected.push_back(re);
  auto bad = unexpectedLogLines(text, expected);
  bad.insert(bad.end(), sanitizer.begin(), sanitizer.end());
  if (bad.empty()) return;
  std::string lines;
  for (std::size_t i = 0; i < bad.size() && i < 40; ++i) lines += "\n  " + bad[i];
  if (bad.size() > 40) lines += "\n  ... and " + std::to_string(bad.size() - 40) + " more";
  std::string declared;
  for (const auto& [source, re] : expected_lines_) declared += "\n  " + source;
  ADD_FAILURE() << bad.size() << " unexpected critical/error or sanitizer line(s) in the log:"
                << lines << "\nexpected patterns:" << (declared.empty() ? " none" : declared);
}

void ReliabilityTest::TearDown() {
  if (!process_) return;
  // After a fatal failure the pool may be in any shape: only stop, scan and clean up.
  if (!HasFatalFailure()) auditProcesses();
  stopSupervisor();
  scanLog();
  process_.reset();  // the harness: nothing of the tree left, no sanitizer report
}

}  // namespace e2e
