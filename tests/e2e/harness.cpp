#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#ifndef PREFORKD_BINARY
#error "PREFORKD_BINARY must name the preforkd binary under test"
#endif

namespace e2e {
namespace {

int remainingMs(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<Ms>(deadline - SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, INT_MAX));
}

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// Fields 3 (state), 4 (ppid) and 5 (pgrp) of /proc/PID/stat; false if the process is gone.
bool readStat(pid_t pid, char* state, pid_t* ppid, pid_t* pgrp) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return false;
  const auto close = text.rfind(')');  // comm may contain spaces and parentheses
  if (close == std::string::npos) return false;
  std::istringstream rest(text.substr(close + 1));
  char st = 0;
  long pp = -1, pg = -1;
  if (!(rest >> st >> pp >> pg)) return false;
  if (state) *state = st;
  if (ppid) *ppid = static_cast<pid_t>(pp);
  if (pgrp) *pgrp = static_cast<pid_t>(pg);
  return true;
}

std::vector<pid_t> allPids() {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    const long v = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && v > 0) out.push_back(static_cast<pid_t>(v));
  }
  ::closedir(d);
  return out;
}

bool hasFlag(const std::vector<std::string>& args, std::initializer_list<std::string_view> names) {
  for (const std::string& a : args) {
    for (std::string_view n : names) {
      if (a == n) return true;
      if (n.starts_with("--") && a.size() > n.size() && a.starts_with(n) && a[n.size()] == '=') {
        return true;
      }
    }
  }
  return false;
}

// Opens a pipe whose both ends are close-on-exec.
std::pair<preforkd::UniqueFd, preforkd::UniqueFd> makePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(errnoText("pipe2"));
  return {preforkd::UniqueFd(fds[0]), preforkd::UniqueFd(fds[1])};
}

int pidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

// Everything after fork() in the child must be async-signal-safe: the test process has threads.
// `envp` null: the test process's environment.
[[noreturn]] void execChild(const std::vector<char*>& argv, char* const* envp, const char* dir,
                            int null_fd, int out_fd, int err_fd, pid_t test_pid) {
  ::setpgid(0, 0);
  // If the test binary dies, do not leave the tree running.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != test_pid) ::_exit(126);
  if (dir != nullptr && ::chdir(dir) != 0) ::_exit(126);
  if (::dup2(null_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(126);
  ::syscall(SYS_close_range, 3, ~0U, 0);
  // The test runner may ignore or block signals; the product must start with defaults.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (envp != nullptr) {
    ::execve(argv[0], argv.data(), envp);
  } else {
    ::execv(argv[0], argv.data());
  }
  static constexpr char kMsg[] = "e2e harness: execv failed\n";
  [[maybe_unused]] auto n = ::write(2, kMsg, sizeof kMsg - 1);
  ::_exit(127);
}

}  // namespace

// ------------------------------------------------------------------ /proc helpers

std::vector<FdEntry> fdTargets(pid_t pid) {
  std::vector<FdEntry> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    char buf[PATH_MAX];
    const std::string link = dir + "/" + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
    if (n < 0) continue;  // closed meanwhile
    out.push_back({std::atoi(e->d_name), std::string(buf, static_cast<std::size_t>(n))});
  }
  ::closedir(d);
  std::sort(out.begin(), out.end(), [](const FdEntry& a, const FdEntry& b) { return a.fd < b.fd; });
  return out;
}

std::string describeFds(const std::vector<FdEntry>& fds) {
  std::string out;
  for (const FdEntry& f : fds) out += "  " + std::to_string(f.fd) + " -> " + f.target + "\n";
  return out;
}

pid_t parentPid(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("PPid:")) return static_cast<pid_t>(std::atol(line.c_str() + 5));
  }
  return -1;
}

char processState(pid_t pid) {
  char st = 0;
  return readStat(pid, &st, nullptr, nullptr) ? st : 0;
}

pid_t processGroup(pid_t pid) {
  pid_t pg = -1;
  return readStat(pid, nullptr, nullptr, &pg) ? pg : -1;
}

bool processExists(pid_t pid) { return processState(pid) != 0; }

std::vector<pid_t> childPids(pid_t pid) {
  std::vector<pid_t> out;
  for (pid_t p : allPids()) {
    pid_t pp = -1;
    if (readStat(p, nullptr, &pp, nullptr) && pp == pid) out.push_back(p);
  }
  return out;
}

std::vector<pid_t> processGroupMembers(pid_t pgid) {
  std::vector<pid_t> out;
  for (pid_t p : allPids()) {
    pid_t pg = -1;
    if (readStat(p, nullptr, nullptr, &pg) && pg == pgid) out.push_back(p);
  }
  return out;
}

bool eventually(const std::function<bool()>& cond, Ms timeout, Ms step) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/preforkd-e2e-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error(errnoText("mkdtemp"));
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::uint64_t infoValue(const std::map<std::string, std::string>& info, const std::string& key) {
  const auto it = info.find(key);
  return it == info.end() ? UINT64_MAX : std::stoull(it->second);
}

std::size_t countMatches(const std::string& text, const std::regex& re) {
  return static_cast<std::size_t>(
      std::distance(std::sregex_iterator(text.begin(), text.end(), re), std::sregex_iterator()));
}

std::string findInPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::istringstream in(dirs);
  for (std::string d; std::getline(in, d, ':');) {
    if (d.empty()) continue;
    const std::string candidate = d + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// ------------------------------------------------------------------ sanitizer reports

std::string withSanitizerLogPath(const char* existing, const std::string& log_path) {
  std::string out = existing != nullptr ? existing : "";
  if (!out.empty() && out.back() != ':') out += ':';
  return out + "log_path=" + log_path;
}

std::string readSanitizerReports(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with("sanitizer.")) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::string out;
  for (const auto& f : files) {
    std::ifstream in(f);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    out += "==== " + f.filename().string() + " ====\n" + text;
    if (!text.empty() && text.back() != '\n') out += '\n';
  }
  return out;
}

std::vector<std::string> sanitizerLines(const std::string& text) {
  static const std::regex re(
      R"((ERROR|WARNING): (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer))"
      R"(|SUMMARY: \w+Sanitizer|: runtime error: |ERROR: Can't open file: )");
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (std::regex_search(line, re)) out.push_back(line);
  }
  return out;
}

// ------------------------------------------------------------------ ExitStatus

std::string ExitStatus::describe() const {
  if (!exited) return "still running (timed out)";
  if (WIFEXITED(wait_status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  }
  if (WIFSIGNALED(wait_status)) {
    return "killed by signal " + std::to_string(WTERMSIG(wait_status)) + " (" +
           strsignal(WTERMSIG(wait_status)) + ")";
  }
  return "wait status " + std::to_string(wait_status);
}

bool ExitStatus::exitedWith(int code) const {
  return exited && WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == code;
}

// ------------------------------------------------------------------ PreforkdProcess

PreforkdProcess::PreforkdProcess(std::vector<std::string> args, LaunchOptions options) {
  // Workers orphaned by a dead supervisor are re-parented to us instead of to init (which, in
  // a container, may reap them only now and then), so the destructor can reap them at once.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  char tmpl[] = "/tmp/preforkd-e2e-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error(errnoText("mkdtemp"));
  dir_ = tmpl;
  control_path_ = dir_ + "/control.sock";

  std::vector<std::string> argv = options.wrapper;
  argv.push_back(PREFORKD_BINARY);
  if (options.allow_root_workers && ::geteuid() == 0 &&
      !hasFlag(args, {"--user", "--allow-root-workers"})) {
    argv.push_back("--allow-root-workers");
  }
  if (options.default_listen && !hasFlag(args, {"--listen", "-l"})) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  }
  if (options.control_socket && !hasFlag(args, {"--control-socket"})) {
    argv.insert(argv.end(), {"--control-socket", control_path_});
  }
  for (std::size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--control-socket") control_path_ = args[i + 1];
  }
  if (options.default_flags) {
    const std::pair<const char*, const char*> defaults[] = {{"--log-level", "debug"},
                                                            {"--idle-timeout", "30s"},
                                                            {"--shutdown-timeout", "5s"},
                                                            {"--max-line", "4096"}};
    for (const auto& [flag, value] : defaults) {
      if (!hasFlag(args, {flag})) argv.insert(argv.end(), {flag, value});
    }
  }
  argv.insert(argv.end(), args.begin(), args.end());
  try {
    spawn(argv);
  } catch (...) {
    std::filesystem::remove_all(dir_);
    throw;
  }
}

void PreforkdProcess::spawn(const std::vector<std::string>& args) {
  auto [err_r, err_w] = makePipe();
  auto [out_r, out_w] = makePipe();
  auto [wake_r, wake_w] = makePipe();
  preforkd::UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!null_fd) throw std::runtime_error(errnoText("open /dev/null"));
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // The environment, with every sanitizer report sent to a file of its own in dir_ (built
  // before fork: the child may only make async-signal-safe calls).
  const std::string log_path = dir_ + "/sanitizer";
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view var(*e);
    if (var.starts_with("ASAN_OPTIONS=") || var.starts_with("UBSAN_OPTIONS=")) continue;
    env.emplace_back(var);
  }
  env.push_back("ASAN_OPTIONS=" + withSanitizerLogPath(std::getenv("ASAN_OPTIONS"), log_path));
  env.push_back("UBSAN_OPTIONS=" + withSanitizerLogPath(std::getenv("UBSAN_OPTIONS"), log_path));
  std::vector<char*> envp;
  for (std::string& v : env) envp.push_back(v.data());
  envp.push_back(nullptr);

  const pid_t test_pid = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errnoText("fork"));
  if (pid == 0) {
    execChild(argv, envp.data(), dir_.c_str(), null_fd.get(), out_w.get(), err_w.get(), test_pid);
  }
  pid_ = pid;
  ::setpgid(pid, pid);  // also in the parent: no window in which the group does not exist
  pidfd_.reset(pidfdOpen(pid));

  err_pipe_ = std::move(err_r);
  out_pipe_ = std::move(out_r);
  wake_pipe_read_ = std::move(wake_r);
  wake_pipe_write_ = std::move(wake_w);
  // err_w and out_w close here: only the child (and its children) hold the write ends.
  reader_ = std::thread([this] { readerLoop(); });
}

void PreforkdProcess::readerLoop() {
  std::array<pollfd, 3> fds{{{err_pipe_.get(), POLLIN, 0},
                             {out_pipe_.get(), POLLIN, 0},
                             {wake_pipe_read_.get(), POLLIN, 0}}};
  char buf[65536];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const int n = ::poll(fds.data(), fds.size(), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      std::lock_guard lock(mu_);
      if (got <= 0) {
        fds[i].fd = -1;  // EOF: every writer is gone
      } else {
        (i == 0 ? err_buf_ : out_buf_).append(buf, static_cast<std::size_t>(got));
      }
      cv_.notify_all();
    }
  }
  std::lock_guard lock(mu_);
  reader_done_ = true;
  cv_.notify_all();
}

void PreforkdProcess::stopReader() {
  if (!reader_.joinable()) return;
  const char byte = 'x';
  [[maybe_unused]] auto n = ::write(wake_pipe_write_.get(), &byte, 1);
  reader_.join();
}

PreforkdProcess::~PreforkdProcess() {
  if (pid_ > 0 && !reaped_) {
    if (running()) {
      // A clean stop is part of every test: the supervisor must exit 0 on SIGTERM.
      ::kill(pid_, SIGTERM);
      const ExitStatus st = waitExit(10s);
      if (!st.exited) {
        ADD_FAILURE() << "preforkd " << pid_ << " did not exit within 10 s of SIGTERM; killing it\n"
                      << log();
        ::kill(-pid_, SIGKILL);  // our own process group: the supervisor and its workers
        waitExit(5s);
      } else if (!st.exitedWith(0)) {
        ADD_FAILURE() << "preforkd " << pid_ << " " << st.describe() << " after SIGTERM\n" << log();
      }
    } else {
      waitExit(1s);
    }
  }
  if (pid_ > 0) {
    if (!eventually([this] { reapOrphans(); return leftoverProcesses().empty(); }, 3s)) {
      std::string list;
      for (pid_t p : leftoverProcesses()) {
        list += " " + std::to_string(p) + "(" + processState(p) + ")";
        ::kill(p, SIGKILL);
      }
      ADD_FAILURE() << "processes of preforkd's group left behind:" << list;
    }
  }
  stopReader();
  checkSanitizerReports();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) ADD_FAILURE() << "cannot remove " << dir_ << ": " << ec.message();
}

std::optional<std::vector<std::string>> PreforkdProcess::waitForLog(const std::regex& re,
                                                                    Ms timeout,
                                                                    std::size_t* cursor) {
  const auto deadline = SteadyClock::now() + timeout;
  std::unique_lock lock(mu_);
  std::size_t pos = cursor ? *cursor : 0;
  for (;;) {
    for (;;) {
      const auto nl = err_buf_.find('\n', pos);
      if (nl == std::string::npos) break;
      const std::string line = err_buf_.substr(pos, nl - pos);
      pos = nl + 1;
      std::smatch m;
      if (std::regex_search(line, m, re)) {
        if (cursor) *cursor = pos;
        std::vector<std::string> groups;
        for (const auto& g : m) groups.push_back(g.str());
        return groups;
      }
    }
    if (reader_done_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      // One last look at what arrived with the final wake-up.
      if (err_buf_.find('\n', pos) == std::string::npos) return std::nullopt;
    }
  }
}

std::string PreforkdProcess::log() const {
  std::lock_guard lock(mu_);
  return err_buf_;
}

std::string PreforkdProcess::stdoutText() const {
  std::lock_guard lock(mu_);
  return out_buf_;
}

std::vector<pid_t> PreforkdProcess::loggedWorkerPids() const {
  static const std::regex re(R"(started worker (\d+) in slot)");
  const std::string text = log();
  std::vector<pid_t> out;
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) {
    out.push_back(static_cast<pid_t>(std::stol((*it)[1].str())));
  }
  return out;
}

testing::AssertionResult PreforkdProcess::waitReady(Ms timeout) {
  static const std::regex ready(R"(info: ready: (\d+) workers serving (.*)$)");
  if (!waitForLog(ready, timeout)) {
    return testing::AssertionFailure() << "no 'ready:' line within " << timeout.count()
                                       << " ms; process " << (running() ? "running" : "gone")
                                       << "; stderr:\n" << log();
  }
  static const std::regex listening(R"(info: listening on (\S+)$)");
  listen_addresses_.clear();
  ports_.clear();
  std::size_t cursor = 0;
  while (auto m = waitForLog(listening, 0ms, &cursor)) {
    const std::string& addr = (*m)[1];
    listen_addresses_.push_back(addr);
    ports_.push_back(std::stoi(addr.substr(addr.rfind(':') + 1)));
  }
  if (ports_.empty()) return testing::AssertionFailure() << "no 'listening on' line:\n" << log();
  return testing::AssertionSuccess();
}

int PreforkdProcess::port(std::size_t i) const {
  return i < ports_.size() ? ports_[i] : -1;
}

std::optional<std::string> PreforkdProcess::control(std::string_view command, Ms timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  preforkd::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::nullopt;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (control_path_.size() >= sizeof addr.sun_path) return std::nullopt;
  std::memcpy(addr.sun_path, control_path_.c_str(), control_path_.size() + 1);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return std::nullopt;
  }
  const std::string line = std::string(command) + "\n";
  const ssize_t sent = ::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL);
  if (sent != static_cast<ssize_t>(line.size())) {
    return std::nullopt;
  }
  std::string got;
  for (;;) {
    const auto end = got.find("\n\n");
    if (end != std::string::npos) return got.substr(0, end + 1);
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, remainingMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t r = ::recv(fd.get(), buf, sizeof buf, 0);
    if (r <= 0) return std::nullopt;
    got.append(buf, static_cast<std::size_t>(r));
  }
}

std::map<std::string, std::string> PreforkdProcess::info() {
  std::map<std::string, std::string> out;
  const auto text = control("show info");
  if (!text) return out;
  std::istringstream in(*text);
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(": ");
    if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return out;
}

std::uint64_t PreforkdProcess::infoNumber(const std::string& key) {
  const auto m = info();
  const auto it = m.find(key);
  return it == m.end() ? UINT64_MAX : std::stoull(it->second);
}

std::vector<WorkerRow> PreforkdProcess::workers() {
  std::vector<WorkerRow> out;
  const auto text = control("show workers");
  if (!text) return out;
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    WorkerRow w;
    std::string age;
    if (fields >> w.slot >> w.pid >> w.state >> w.served >> w.conn >> age) out.push_back(w);
  }
  return out;
}

std::vector<pid_t> PreforkdProcess::workerPids() {
  std::vector<pid_t> out;
  for (const WorkerRow& w : workers()) out.push_back(w.pid);
  return out;
}

testing::AssertionResult PreforkdProcess::waitInfo(
    const std::function<bool(const std::map<std::string, std::string>&)>& pred, Ms timeout,
    const std::string& what) {
  std::map<std::string, std::string> last;
  const bool ok = eventually(
      [&] {
        last = info();
        return !last.empty() && pred(last);
      },
      timeout);
  if (ok) return testing::AssertionSuccess();
  std::string dump;
  for (const auto& [k, v] : last) dump += "  " + k + ": " + v + "\n";
  return testing::AssertionFailure() << what << " not reached within " << timeout.count()
                                     << " ms; last show info:\n" << dump;
}

testing::AssertionResult PreforkdProcess::waitCompleted(std::uint64_t n, Ms timeout) {
  const std::string want = std::to_string(n);
  return waitInfo([&](const auto& i) { return i.at("conns_completed") == want; }, timeout,
                  "conns_completed == " + want);
}

testing::AssertionResult PreforkdProcess::waitPoolFull(std::size_t n, Ms timeout) {
  const std::string want = std::to_string(n);
  return waitInfo(
      [&](const auto& i) {
        return i.at("workers_total") == want && i.at("workers_idle") == want;
      },
      timeout, "pool of " + want + " idle workers");
}

void PreforkdProcess::signal(int sig) {
  if (pid_ > 0 && !reaped_) ::kill(pid_, sig);
}

bool PreforkdProcess::running() {
  if (pid_ <= 0 || reaped_) return false;
  return !waitExit(0ms).exited;
}

ExitStatus PreforkdProcess::waitExit(Ms timeout) {
  if (reaped_) return exit_status_;
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_status_ = {true, st};
      // Let the reader thread take in everything written before the exit (it sees EOF once
      // the last holder of the pipes is gone; bounded in case an orphan still holds them).
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, 2s, [this] { return reader_done_; });
      return exit_status_;
    }
    if (r < 0 && errno != EINTR) {
      ADD_FAILURE() << "waitpid(" << pid_ << "): " << std::strerror(errno);
      reaped_ = true;
      exit_status_ = {true, -1};
      return exit_status_;
    }
    const int left = remainingMs(deadline);
    if (left == 0) return {false, 0};
    if (pidfd_) {
      pollfd p{pidfd_.get(), POLLIN, 0};
      ::poll(&p, 1, left);  // readable once the process has exited
    } else {
      std::this_thread::sleep_for(std::min(Ms(left), Ms(10)));  // no pidfd: short naps
    }
  }
}

void PreforkdProcess::checkSanitizerReports(AfterCheck after) {
  const std::string files = readSanitizerReports(dir_);
  std::string text;
  {
    std::lock_guard lock(mu_);
    text = err_buf_.substr(std::min(sanitizer_checked_, err_buf_.size()));
    if (after == AfterCheck::Consume) sanitizer_checked_ = err_buf_.size();
  }
  std::string lines;
  for (const std::string& l : sanitizerLines(text)) lines += "  " + l + "\n";
  if (!files.empty() || !lines.empty()) {
    ADD_FAILURE() << "sanitizer report(s) from the preforkd process tree:\n"
                  << files << (lines.empty() ? "" : "on its stderr:\n") << lines;
  }
  if (after == AfterCheck::Consume) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
      if (entry.path().filename().string().starts_with("sanitizer.")) {
        std::filesystem::remove(entry.path(), ec);
      }
    }
  }
}

void PreforkdProcess::reapOrphans() {
  const pid_t self = ::getpid();
  for (pid_t p : processGroupMembers(pid_)) {
    if (p != pid_ && parentPid(p) == self) ::waitpid(p, nullptr, WNOHANG);
  }
}

std::vector<pid_t> PreforkdProcess::leftoverProcesses() const {
  std::vector<pid_t> out;
  for (pid_t p : processGroupMembers(pid_)) {
    // A zombie is dead already; once the supervisor is gone, reaping it is init's job (which
    // may take a while in a container).
    const char state = processState(p);
    if (p != pid_ && state != 'Z' && state != 'X' && state != 0) out.push_back(p);
  }
  return out;
}

// ------------------------------------------------------------------ Client

testing::AssertionResult Client::connect(int port, const std::string& host) {
  close();
  eof_ = false;
  error_ = 0;
  sockaddr_storage ss{};
  socklen_t len = 0;
  int family = AF_INET;
  auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (::inet_pton(AF_INET, host.c_str(), &sin->sin_addr) == 1) {
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    len = sizeof *sin;
  } else if (::inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) == 1) {
    family = AF_INET6;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    len = sizeof *sin6;
  } else {
    return testing::AssertionFailure() << "bad host " << host;
  }
  preforkd::UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return testing::AssertionFailure() << errnoText("socket");
  // Bounds a blocking connect() and send().
  const timeval tv{2, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    return testing::AssertionFailure() << "connect to " << host << ":" << port << ": "
                                       << std::strerror(errno);
  }
  fd_ = std::move(fd);
  return testing::AssertionSuccess();
}

testing::AssertionResult Client::connectUnix(const std::string& path) {
  close();
  eof_ = false;
  error_ = 0;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return testing::AssertionFailure() << "path too long";
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  preforkd::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return testing::AssertionFailure() << errnoText("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return testing::AssertionFailure() << "connect to " << path << ": " << std::strerror(errno);
  }
  fd_ = std::move(fd);
  return testing::AssertionSuccess();
}

testing::AssertionResult Client::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return testing::AssertionFailure() << errnoText("send");
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return testing::AssertionSuccess();
}

int Client::fill(SteadyClock::time_point deadline) {
  if (eof_) return 0;
  if (error_ != 0) return -2;
  for (;;) {
    pollfd p{fd_.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, remainingMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error_ = errno;
      return -2;
    }
    if (n == 0) return -1;
    char buf[65536];
    const ssize_t got = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (got > 0) {
      buf_.append(buf, static_cast<std::size_t>(got));
      return 1;
    }
    if (got == 0) {
      eof_ = true;
      return 0;
    }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    error_ = errno;
    return -2;
  }
}

std::optional<std::string> Client::readUntil(std::string_view needle, Ms timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  for (;;) {
    const auto at = buf_.find(needle);
    if (at != std::string::npos) {
      std::string out = buf_.substr(0, at + needle.size());
      buf_.erase(0, at + needle.size());
      return out;
    }
    if (fill(deadline) != 1) return std::nullopt;
  }
}

std::optional<std::string> Client::readLine(Ms timeout) {
  auto line = readUntil("\r\n", timeout);
  if (line) line->resize(line->size() - 2);
  return line;
}

std::optional<std::string> Client::readExactly(std::size_t n, Ms timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (buf_.size() < n) {
    if (fill(deadline) != 1) return std::nullopt;
  }
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

Client::AllResult Client::readAll(Ms timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  AllResult r;
  for (;;) {
    const int got = fill(deadline);
    if (got == 1) continue;
    r.eof = got == 0;
    r.error = got == -2 ? error_ : 0;
    r.timed_out = got == -1;
    break;
  }
  r.data = std::move(buf_);
  buf_.clear();
  return r;
}

bool Client::readable(Ms timeout) {
  if (!buf_.empty() || eof_ || error_ != 0) return true;
  pollfd p{fd_.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

void Client::shutdownWrite() { ::shutdown(fd_.get(), SHUT_WR); }

// ------------------------------------------------------------------ banner & helpers

std::optional<Banner> parseBanner(const std::string& line) {
  static const std::regex re(R"(^preforkd echo service, worker pid (\d+), connection (\d+)\. )"
                             R"(Type 'help' for commands\.$)");
  std::smatch m;
  if (!std::regex_match(line, m, re)) return std::nullopt;
  return Banner{static_cast<pid_t>(std::stol(m[1].str())), std::stoull(m[2].str())};
}

testing::AssertionResult readBanner(Client& c, Banner* out, Ms timeout) {
  const auto line = c.readLine(timeout);
  if (!line) return testing::AssertionFailure() << "no banner; got '" << c.pending() << "'";
  const auto b = parseBanner(*line);
  if (!b) return testing::AssertionFailure() << "not a banner: '" << *line << "'";
  *out = *b;
  return testing::AssertionSuccess();
}

std::vector<std::string> withTestWorker(std::vector<std::string> args,
                                        const std::vector<std::string>& worker) {
  args.push_back("--worker-exec");
  args.push_back(PREFORKD_TEST_WORKER_BINARY);
  for (const std::string& w : worker) args.push_back(w);
  return args;
}

bool goneFromTree(pid_t pid, pid_t supervisor) {
  if (!processExists(pid) || processState(pid) == 'Z') return true;
  return parentPid(pid) != supervisor && processGroup(pid) != supervisor;
}

std::string joinPids(const std::vector<pid_t>& pids) {
  std::string out;
  for (pid_t p : pids) out += (out.empty() ? "" : " ") + std::to_string(p);
  return out;
}

testing::AssertionResult serveOne(int port, Banner* banner, const std::string& host) {
  Client c;
  if (auto r = c.connect(port, host); !r) return r;
  const auto line = c.readLine(3s);
  if (!line) return testing::AssertionFailure() << "no banner (got '" << c.pending() << "')";
  const auto b = parseBanner(*line);
  if (!b) return testing::AssertionFailure() << "not a banner: '" << *line << "'";
  if (banner) *banner = *b;
  if (auto r = c.send("quit\r\n"); !r) return r;
  const auto bye = c.readLine(2s);
  if (!bye || *bye != "Goodbye.") {
    return testing::AssertionFailure() << "expected Goodbye., got '" << bye.value_or(c.pending())
                                       << "'";
  }
  const auto rest = c.readAll(2s);
  if (!rest.eof || !rest.data.empty()) {
    return testing::AssertionFailure() << "expected EOF after Goodbye. (eof=" << rest.eof
                                       << " error=" << rest.error << " data='" << rest.data << "')";
  }
  return testing::AssertionSuccess();
}

CommandResult runCommand(const std::vector<std::string>& args, Ms timeout) {
  CommandResult result;
  auto [out_r, out_w] = makePipe();
  preforkd::UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t test_pid = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errnoText("fork"));
  if (pid == 0) {
    execChild(argv, nullptr, nullptr, null_fd.get(), out_w.get(), out_w.get(), test_pid);
  }
  ::setpgid(pid, pid);
  out_w.reset();
  preforkd::UniqueFd pidfd(pidfdOpen(pid));
  const auto deadline = SteadyClock::now() + timeout;
  // Read the merged output until EOF, then reap; both bounded by the deadline.
  bool out_open = true;
  for (;;) {
    int st = 0;
    if (!out_open) {
      const pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid) {
        result.wait_status = st;
        return result;
      }
    }
    const int left = remainingMs(deadline);
    if (left == 0) break;
    if (!out_open && !pidfd) {
      std::this_thread::sleep_for(std::min(Ms(left), Ms(10)));  // no pidfd: short naps
      continue;
    }
    std::array<pollfd, 2> fds{{{out_open ? out_r.get() : -1, POLLIN, 0}, {pidfd.get(), POLLIN, 0}}};
    if (::poll(fds.data(), fds.size(), left) < 0 && errno != EINTR) break;
    if (out_open && fds[0].revents != 0) {
      char buf[8192];
      const ssize_t n = ::read(out_r.get(), buf, sizeof buf);
      if (n > 0) {
        result.output.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        out_open = false;
      }
    }
    if (fds[1].revents != 0 && !out_open) continue;
    if (fds[1].revents != 0) {
      // Exited, but something it started may still hold the pipe: take what is there, reap.
      for (;;) {
        pollfd p{out_r.get(), POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) break;
        char buf[8192];
        const ssize_t n = ::read(out_r.get(), buf, sizeof buf);
        if (n <= 0) break;
        result.output.append(buf, static_cast<std::size_t>(n));
      }
      out_open = false;
    }
  }
  result.timed_out = true;
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, &result.wait_status, 0);  // SIGKILL: immediate
  return result;
}

}  // namespace e2e
