// End-to-end: preforkd as a systemd service, tested with the real tools that work without
// systemd as PID 1: `systemd-analyze verify` and `security` on the units, socket activation
// through `systemd-socket-activate`, sd_notify on a fake NOTIFY_SOCKET (readiness, status,
// stopping, watchdog pings, and that only the supervisor speaks), the log file shared by the
// supervisor and its workers, and `cmake --install` into a DESTDIR.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness.h"

namespace e2e {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool exitedZero(const CommandResult& r) {
  return !r.timed_out && WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0;
}

// The units of systemd/, with the binary path of this build, in a temporary directory.
class UnitsUnderTest {
 public:
  UnitsUnderTest() {
    for (const char* unit : {"preforkd.service", "preforkd.socket", "preforkd-agent.socket"}) {
      std::string text = readFile(std::string(PREFORKD_SOURCE_DIR "/systemd/") + unit);
      for (std::size_t at; (at = text.find("/usr/bin/preforkd")) != std::string::npos;) {
        text.replace(at, std::strlen("/usr/bin/preforkd"), PREFORKD_BINARY);
      }
      std::ofstream(dir_.path() + "/" + unit) << text;
    }
  }
  std::string path(const char* unit) const { return dir_.path() + "/" + unit; }

 private:
  TempDir dir_;
};

// ------------------------------------------------------------------ units

TEST(SystemdUnits, VerifyPrintsNothing) {
  const std::string analyze = findInPath("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "needs systemd-analyze (Debian package systemd)";
  UnitsUnderTest units;
  // verify also runs `man` on each Documentation= page: give it ours, as installed.
  TempDir man;
  for (const char* page : {"man8/preforkd.8", "man1/preforkctl.1"}) {
    std::filesystem::create_directories(man.path() + "/" + std::string(page).substr(0, 4));
    std::filesystem::copy_file(std::string(PREFORKD_SOURCE_DIR "/docs/man/") + (page + 5),
                               man.path() + "/" + page);
  }
  std::vector<std::string> argv{findInPath("env"), "MANPATH=" + man.path(), analyze, "verify"};
  if (findInPath("man").empty()) argv.push_back("--man=no");  // nothing to check them with
  argv.insert(argv.end(), {units.path("preforkd.service"), units.path("preforkd.socket"),
                           units.path("preforkd-agent.socket")});
  // verify exits 0 on unknown keys and bad values: any output at all is a failure.
  const CommandResult r = runCommand(argv, 60s);
  EXPECT_TRUE(exitedZero(r)) << r.output;
  EXPECT_EQ(r.output, "");
}

TEST(SystemdUnits, SecurityExposureAtMost2_5) {
  const std::string analyze = findInPath("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "needs systemd-analyze (Debian package systemd)";
  UnitsUnderTest units;
  const CommandResult r =
      runCommand({analyze, "security", "--offline=yes", "--no-pager", units.path("preforkd.service")}, 60s);
  std::smatch m;
  const std::regex overall(R"(Overall exposure level for preforkd\.service: (\d+\.\d))");
  ASSERT_TRUE(std::regex_search(r.output, m, overall)) << r.output;
  const double exposure = std::stod(m[1]);
  EXPECT_LE(exposure, 2.5) << r.output;
}

// ------------------------------------------------------------------ sd_notify

// What systemd would hold: a datagram socket that also reports each sender's pid.
class FakeNotifySocket {
 public:
  FakeNotifySocket() : path_(dir_.path() + "/notify") {
    fd_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    const int on = 1;
    if (!fd_ || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::setsockopt(fd_.get(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
      ADD_FAILURE() << "notify socket: " << std::strerror(errno);
    }
  }
  const std::string& path() const { return path_; }

  struct Message {
    std::string text;
    pid_t sender = -1;
    SteadyClock::time_point at;
  };
  // The next datagram within `timeout`, or nothing.
  std::optional<Message> receive(Ms timeout) {
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
    char buf[4096];
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_CMSG_CLOEXEC);
    if (n < 0) return std::nullopt;
    Message out{std::string(buf, static_cast<std::size_t>(n)), -1, SteadyClock::now()};
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        ucred cred{};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        out.sender = cred.pid;
      }
    }
    return out;
  }
  // Datagrams until one starts with `prefix` (returned), or nothing by `timeout`; the others
  // go to *skipped.
  std::optional<Message> receiveUntil(std::string_view prefix, Ms timeout,
                                      std::vector<Message>* skipped) {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<Ms>(deadline - SteadyClock::now());
      if (left.count() <= 0) return std::nullopt;
      auto m = receive(left);
      if (!m) return std::nullopt;
      if (m->text.starts_with(prefix)) return m;
      skipped->push_back(std::move(*m));
    }
  }

 private:
  TempDir dir_;
  std::string path_;
  preforkd::UniqueFd fd_;
};

// Sets environment variables for the preforkd started while it lives.
class ScopedEnv {
 public:
  ScopedEnv(std::initializer_list<std::pair<const char*, std::string>> vars) {
    for (const auto& [name, value] : vars) {
      names_.push_back(name);
      ::setenv(name, value.c_str(), 1);
    }
  }
  ~ScopedEnv() {
    for (const char* name : names_) ::unsetenv(name);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::vector<const char*> names_;
};

TEST(SystemdNotify, ReadyStatusStoppingInOrderFromTheSupervisorOnly) {
  FakeNotifySocket systemd;
  std::optional<PreforkdProcess> p;
  {
    ScopedEnv env({{"NOTIFY_SOCKET", systemd.path()}});
    // Exec'd workers too: their environment must not carry NOTIFY_SOCKET.
    p.emplace(std::vector<std::string>{"--workers", "2", "--worker-exec", PREFORKD_WORKER_BINARY});
  }
  std::vector<FakeNotifySocket::Message> all;
  const auto ready = systemd.receiveUntil("READY=1", 10s, &all);
  ASSERT_TRUE(ready) << p->log();
  EXPECT_EQ(ready->text, "READY=1\nSTATUS=2 idle, 0 busy, 0 queued, 0 served");
  ASSERT_TRUE(p->waitReady());
  all.push_back(*ready);

  // Serve one client: the next periodic STATUS= reports it (sent only when it changed).
  ASSERT_TRUE(serveOne(p->port(), nullptr));
  ASSERT_TRUE(p->waitCompleted(1));
  const auto status = systemd.receiveUntil("STATUS=", 5s, &all);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->text, "STATUS=2 idle, 0 busy, 0 queued, 1 served");
  all.push_back(*status);

  p->signal(SIGTERM);
  const auto stopping = systemd.receiveUntil("STOPPING=1", 5s, &all);
  ASSERT_TRUE(stopping) << p->log();
  EXPECT_TRUE(stopping->text.starts_with("STOPPING=1\nSTATUS=stopping: ")) << stopping->text;
  all.push_back(*stopping);
  EXPECT_TRUE(p->waitExit(10s).exitedWith(0)) << p->log();
  while (auto m = systemd.receive(0ms)) all.push_back(*m);

  for (const auto& m : all) {
    EXPECT_EQ(m.sender, p->pid()) << "a message from pid " << m.sender << " (not the supervisor): "
                                  << m.text;
    EXPECT_EQ(m.text.find("WATCHDOG"), std::string::npos) << "no watchdog was asked for";
  }
  EXPECT_LT(ready->at, status->at);
  EXPECT_LT(status->at, stopping->at);
}

TEST(SystemdNotify, WatchdogPingsAtHalfTheTimeout) {
  FakeNotifySocket systemd;
  std::optional<PreforkdProcess> p;
  {
    ScopedEnv env({{"NOTIFY_SOCKET", systemd.path()}, {"WATCHDOG_USEC", "400000"}});
    p.emplace(std::vector<std::string>{"--workers", "1"});
  }
  ASSERT_TRUE(p->waitReady());
  EXPECT_NE(p->log().find("systemd watchdog: pinging every 200 ms"), std::string::npos) << p->log();
  // Count the pings over a 2 s window measured on our side: about 10.
  std::vector<FakeNotifySocket::Message> others;
  ASSERT_TRUE(systemd.receiveUntil("WATCHDOG=1", 2s, &others));
  const auto start = SteadyClock::now();
  int pings = 0;
  std::vector<SteadyClock::duration> gaps;
  auto last = start;
  while (SteadyClock::now() - start < 2s) {
    const auto left = std::chrono::duration_cast<Ms>(2s - (SteadyClock::now() - start));
    auto m = systemd.receive(std::max(left, Ms(1)));
    if (!m) break;
    if (m->text != "WATCHDOG=1") continue;
    ++pings;
    gaps.push_back(m->at - last);
    last = m->at;
  }
  EXPECT_GE(pings, 7) << "pings in 2 s at a 200 ms interval";
  EXPECT_LE(pings, 12) << "pings in 2 s at a 200 ms interval";
  for (const auto gap : gaps) {
    EXPECT_LT(gap, 400ms) << "a gap as long as the watchdog timeout would have killed the service";
  }
  // A stopped loop stops pinging.
  p->signal(SIGSTOP);
  while (systemd.receive(50ms)) {
  }
  EXPECT_FALSE(systemd.receive(600ms)) << "pings from a stopped supervisor";
  p->signal(SIGCONT);
  EXPECT_TRUE(systemd.receiveUntil("WATCHDOG=1", 2s, &others));
}

// ------------------------------------------------------------------ socket activation

// A free TCP port on 127.0.0.1 (bound to port 0, then closed).
int freePort() {
  preforkd::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof sin;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin), len) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
    return -1;
  }
  return ntohs(sin.sin_port);
}

// systemd passes the HAProxy agent's socket by name (FileDescriptorName=agent, see
// systemd/preforkd-agent.socket): preforkd answers checks on it and serves clients on the other.
TEST(SocketActivation, ASocketNamedAgentIsTheAgentEndpoint) {
  const std::string activate = findInPath("systemd-socket-activate");
  if (activate.empty()) GTEST_SKIP() << "needs systemd-socket-activate (Debian package systemd)";
  const int port = freePort();
  const int agent_port = freePort();
  ASSERT_GT(port, 0);
  ASSERT_GT(agent_port, 0);
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  const std::string agent_addr = "127.0.0.1:" + std::to_string(agent_port);
  LaunchOptions options;
  options.default_listen = false;
  options.wrapper = {activate, "--listen", addr, "--listen", agent_addr, "--fdname", "preforkd:agent"};
  PreforkdProcess p({"--workers", "2", "--agent-announce", "100ms"}, options);
  // The first check starts preforkd; it is answered once the loop runs.
  Client check;
  ASSERT_TRUE(eventually([&] { return check.connect(agent_port); }, 5s));
  ASSERT_TRUE(p.waitForLog(std::regex("agent: using inherited socket " + agent_addr), 10s)) << p.log();
  ASSERT_TRUE(p.waitForLog(std::regex(R"(info: ready: )"), 10s)) << p.log();
  const Client::AllResult answer = check.readAll(5s);
  EXPECT_TRUE(answer.eof);
  EXPECT_TRUE(answer.data == "up ready 100% maxconn:2\n" || answer.data == "up ready 1% maxconn:1\n")
      << "the first check may come before the workers: " << answer.data;
  Client again;
  ASSERT_TRUE(again.connect(agent_port));
  EXPECT_EQ(again.readAll(5s).data, "up ready 100% maxconn:2\n");
  Banner b;
  EXPECT_TRUE(serveOne(port, &b));
  EXPECT_EQ(p.log().find("listening on " + agent_addr), std::string::npos)
      << "the agent socket must not serve clients";
}

TEST(SocketActivation, AClientIsServedThroughThePassedSocket) {
  const std::string activate = findInPath("systemd-socket-activate");
  if (activate.empty()) GTEST_SKIP() << "needs systemd-socket-activate (Debian package systemd)";
  const int port = freePort();
  ASSERT_GT(port, 0);
  const std::string addr = "127.0.0.1:" + std::to_string(port);
  LaunchOptions options;
  options.default_listen = false;
  options.wrapper = {activate, "--listen", addr, "--fdname", "preforkd"};
  PreforkdProcess p({"--workers", "2"}, options);
  // systemd-socket-activate listens first and starts preforkd on the first connection.
  Client first;
  ASSERT_TRUE(eventually([&] { return first.connect(port); }, 5s));
  const auto ready = p.waitForLog(std::regex(R"(info: ready: )"), 10s);
  const std::string log = p.log();
  // Only preforkd's own lines count (systemd-socket-activate says "Listening on" itself).
  const bool announced = std::regex_search(
      log, std::regex(R"(\[supervisor \d+\] [a-z]+: .*(listening on )" + addr +
                      R"(|socket.activat|LISTEN_FDS))",
                      std::regex::icase));
  if (!announced) {
    GTEST_SKIP() << "this preforkd does not take socket-activated listeners yet (no mention of "
                 << addr << " or socket activation in its log):\n" << log;
  }
  ASSERT_TRUE(ready) << log;
  const auto banner = first.readLine(5s);
  ASSERT_TRUE(banner) << "the client queued on the passed socket was never served:\n" << p.log();
  EXPECT_TRUE(parseBanner(*banner)) << *banner;
  ASSERT_TRUE(first.send("quit\r\n"));
  Banner second;
  EXPECT_TRUE(serveOne(port, &second));
  // The listener is systemd's fd 3; preforkd bound nothing of its own.
  const auto fds = fdTargets(p.pid());
  EXPECT_FALSE(fds.empty());
  EXPECT_EQ(log.find("127.0.0.1:2323"), std::string::npos) << "bound the default address too:\n" << log;
}

// ------------------------------------------------------------------ log file

TEST(LogFile, SupervisorAndWorkersAppendToIt) {
  TempDir d;
  const std::string path = d.path() + "/preforkd.log";
  for (bool exec : {false, true}) {
    SCOPED_TRACE(exec ? "exec'd workers" : "forked workers");
    std::filesystem::remove(path);
    std::vector<std::string> args{"--workers", "2", "--log-file", path};
    if (exec) args.insert(args.end(), {"--worker-exec", PREFORKD_WORKER_BINARY, "--log-level", "debug"});
    PreforkdProcess p(args);
    // Nothing on stderr: waitReady cannot read the log, so watch the file.
    ASSERT_TRUE(eventually([&] { return readFile(path).find("info: ready: 2 workers") != std::string::npos; }, 10s))
        << readFile(path) << p.log();
    const std::string text_before = readFile(path);
    const std::smatch m = [&] {
      std::smatch sm;
      std::regex_search(text_before, sm, std::regex(R"(listening on 127\.0\.0\.1:(\d+))"));
      return sm;
    }();
    ASSERT_FALSE(m.empty()) << text_before;
    Banner banner;
    ASSERT_TRUE(serveOne(std::stoi(m[1]), &banner));
    // The worker's own debug line about its session lands in the same file.
    const std::string worker_tag = "[worker " + std::to_string(banner.pid) + "]";
    EXPECT_TRUE(eventually([&] { return readFile(path).find(worker_tag) != std::string::npos; }, 5s))
        << readFile(path);
    p.signal(SIGTERM);
    EXPECT_TRUE(p.waitExit(10s).exitedWith(0));
    const std::string text = readFile(path);
    EXPECT_NE(text.find("[supervisor " + std::to_string(p.pid()) + "] info: stopped"), std::string::npos) << text;
    EXPECT_EQ(p.log(), "") << "with --log-file nothing goes to stderr";
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
  }
}

// logrotate's move-then-signal: after SIGUSR1 the supervisor writes to a new file at the
// path; after SIGHUP the new generation of workers does too.
TEST(LogFile, Sigusr1ReopensAfterRotation) {
  TempDir d;
  const std::string path = d.path() + "/preforkd.log";
  PreforkdProcess p({"--workers", "1", "--log-file", path});
  ASSERT_TRUE(eventually([&] { return readFile(path).find("info: ready: 1 workers") != std::string::npos; }, 10s))
      << readFile(path);
  ASSERT_EQ(::rename(path.c_str(), (path + ".1").c_str()), 0);
  p.signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return readFile(path).find("info: log files reopened") != std::string::npos; }, 5s))
      << "rotated: " << readFile(path + ".1");
  p.signal(SIGHUP);
  ASSERT_TRUE(eventually([&] { return readFile(path).find("reload: generation 2 is up") != std::string::npos; }, 5s));
  const std::string port_text = [&] {
    std::smatch sm;
    const std::string old = readFile(path + ".1");
    std::regex_search(old, sm, std::regex(R"(listening on 127\.0\.0\.1:(\d+))"));
    return sm.empty() ? std::string() : sm[1].str();
  }();
  ASSERT_FALSE(port_text.empty());
  Banner banner;
  ASSERT_TRUE(serveOne(std::stoi(port_text), &banner));
  const std::string worker_tag = "[worker " + std::to_string(banner.pid) + "]";
  EXPECT_TRUE(eventually([&] { return readFile(path).find(worker_tag) != std::string::npos; }, 5s))
      << "a new-generation worker logs to the new file: " << readFile(path);
  EXPECT_EQ(readFile(path + ".1").find(worker_tag), std::string::npos);
}

TEST(LogFile, AnUnwritableLogFileIsAStartupError) {
  PreforkdProcess p({"--log-file", "/nonexistent-dir/preforkd.log"});
  const ExitStatus st = p.waitExit(5s);
  EXPECT_TRUE(st.exitedWith(71)) << st.describe() << p.log();
  EXPECT_NE(p.log().find("cannot open log file /nonexistent-dir/preforkd.log"), std::string::npos) << p.log();
}

// ------------------------------------------------------------------ install

TEST(Install, IntoADestdir) {
  const std::string cmake = findInPath("cmake");
  if (cmake.empty()) GTEST_SKIP() << "needs cmake";
  TempDir stage;
  const std::string env = findInPath("env");
  const CommandResult r = runCommand(
      {env, "DESTDIR=" + stage.path(), cmake, "--install", PREFORKD_BUILD_DIR, "--prefix", "/usr"}, 120s);
  ASSERT_TRUE(exitedZero(r)) << r.output;
  const std::string root = stage.path();
  struct Expected {
    const char* path;
    mode_t mode;
  };
  const Expected files[] = {
      {"/usr/bin/preforkd", 0755},
      {"/usr/bin/preforkd-worker", 0755},
      {"/etc/preforkd/preforkd.toml", 0644},
      {"/lib/systemd/system/preforkd.service", 0644},
      {"/lib/systemd/system/preforkd.socket", 0644},
      {"/lib/systemd/system/preforkd-agent.socket", 0644},
      {"/usr/share/man/man8/preforkd.8", 0644},
      {"/usr/share/man/man1/preforkctl.1", 0644},
      {"/usr/share/doc/preforkd/README.md", 0644},
  };
  for (const Expected& f : files) {
    struct stat st {};
    ASSERT_EQ(::stat((root + f.path).c_str(), &st), 0) << f.path << " is not installed:\n" << r.output;
    EXPECT_EQ(st.st_mode & 0777, f.mode) << f.path;
  }
  const std::string service = readFile(root + "/lib/systemd/system/preforkd.service");
  EXPECT_NE(service.find("ExecStart=/usr/bin/preforkd -c /etc/preforkd/preforkd.toml\n"), std::string::npos)
      << service;
  EXPECT_EQ(readFile(root + "/etc/preforkd/preforkd.toml"),
            readFile(PREFORKD_SOURCE_DIR "/systemd/preforkd.toml"));
  // The installed configuration is accepted by the installed binary (apart from the user,
  // which the package creates).
  const CommandResult check = runCommand(
      {root + "/usr/bin/preforkd", "-t", "--strict", "-c", root + "/etc/preforkd/preforkd.toml",
       "--user", "nobody"}, 10s);
  if (::geteuid() == 0) {
    EXPECT_TRUE(exitedZero(check)) << check.output;
  }
  // The man pages render without a single groff warning.
  const std::string groff = findInPath("groff");
  if (!groff.empty()) {
    for (const char* page : {"/usr/share/man/man8/preforkd.8", "/usr/share/man/man1/preforkctl.1"}) {
      const CommandResult m = runCommand({groff, "-z", "-ww", "-man", "-Tutf8", root + page}, 30s);
      EXPECT_TRUE(exitedZero(m)) << page << m.output;
      EXPECT_EQ(m.output, "") << page;
    }
  }
}

// Starts preforkd (2 workers) with NOTIFY_SOCKET pointing at `systemd` and waits for its
// READY=1 and its ready line; earlier datagrams go to *skipped.
testing::AssertionResult startNotified(FakeNotifySocket& systemd, std::optional<PreforkdProcess>* p,
                                       std::vector<FakeNotifySocket::Message>* skipped) {
  {
    ScopedEnv env({{"NOTIFY_SOCKET", systemd.path()}});
    p->emplace(std::vector<std::string>{"--workers", "2"});
  }
  if (!systemd.receiveUntil("READY=1", 10s, skipped)) {
    return testing::AssertionFailure() << "no READY=1\n" << (*p)->log();
  }
  return (*p)->waitReady();
}

// A reload is announced the way systemd 252 expects without Type=notify-reload: RELOADING=1
// with MONOTONIC_USEC=, then READY=1 once the new generation is up.
TEST(SystemdNotify, ReloadIsAnnouncedWithReloadingThenReady) {
  FakeNotifySocket systemd;
  std::optional<PreforkdProcess> p;
  std::vector<FakeNotifySocket::Message> skipped;
  ASSERT_TRUE(startNotified(systemd, &p, &skipped));
  p->signal(SIGHUP);
  const auto reloading = systemd.receiveUntil("RELOADING=1", 5s, &skipped);
  ASSERT_TRUE(reloading) << p->log();
  EXPECT_NE(reloading->text.find("\nMONOTONIC_USEC="), std::string::npos) << reloading->text;
  const auto ready = systemd.receiveUntil("READY=1", 5s, &skipped);
  ASSERT_TRUE(ready) << p->log();
  EXPECT_TRUE(p->waitForLog(std::regex("reload: generation 2 is up"), 2s));
  EXPECT_EQ(ready->sender, p->pid());
}

// A hot upgrade hands the service over: the new supervisor announces MAINPID= and READY=1,
// and the old one never says STOPPING=1 (systemd would take the service down).
TEST(SystemdNotify, HotUpgradeAnnouncesTheNewMainPid) {
  FakeNotifySocket systemd;
  std::optional<PreforkdProcess> p;
  std::vector<FakeNotifySocket::Message> skipped;
  ASSERT_TRUE(startNotified(systemd, &p, &skipped));
  p->signal(SIGUSR2);
  const auto started = p->waitForLog(std::regex("hot upgrade: started .* as pid (\\d+)"), 5s);
  ASSERT_TRUE(started);
  const pid_t new_pid = std::stoi((*started)[1]);
  const auto main_pid = systemd.receiveUntil("MAINPID=", 10s, &skipped);
  ASSERT_TRUE(main_pid) << p->log();
  EXPECT_EQ(main_pid->text, "MAINPID=" + std::to_string(new_pid));
  EXPECT_EQ(main_pid->sender, new_pid);
  const auto ready = systemd.receiveUntil("READY=1", 5s, &skipped);
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->sender, new_pid);
  EXPECT_TRUE(p->waitExit(10s).exitedWith(0));
  while (auto m = systemd.receive(100ms)) skipped.push_back(*m);
  for (const auto& m : skipped) {
    EXPECT_FALSE(m.sender == p->pid() && m.text.starts_with("STOPPING=1"))
        << "the old supervisor said STOPPING=1 during a hot upgrade";
  }
  ASSERT_EQ(::kill(new_pid, SIGTERM), 0);
  int st = 0;
  ASSERT_TRUE(eventually([&] { return ::waitpid(new_pid, &st, WNOHANG) == new_pid; }, 10s));
  p->reapOrphans();
}

}  // namespace
}  // namespace e2e
