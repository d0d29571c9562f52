#include "tests/haproxy/haproxy_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace haproxy {
namespace {

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int remainingMs(e2e::SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<Ms>(deadline - e2e::SteadyClock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, INT_MAX));
}

std::vector<std::string> splitCsv(const std::string& line) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, ',')) out.push_back(field);
  if (!line.empty() && line.back() == ',') out.emplace_back();
  return out;
}

std::int64_t number(const std::map<std::string, std::string>& f, const std::string& key) {
  const auto it = f.find(key);
  if (it == f.end() || it->second.empty()) return -1;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    return -1;
  }
}

// 127.0.0.1:0, listening: the kernel picks the frontend's port.
preforkd::UniqueFd frontendSocket(int* port) {
  preforkd::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw std::runtime_error(errnoText("socket"));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd.get(), 511) != 0) {
    throw std::runtime_error(errnoText("bind/listen 127.0.0.1:0"));
  }
  socklen_t len = sizeof a;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error(errnoText("getsockname"));
  }
  *port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

std::string haproxyBinary() {
  if (::access("/usr/sbin/haproxy", X_OK) == 0) return "/usr/sbin/haproxy";
  return e2e::findInPath("haproxy");
}

HaproxyProcess::HaproxyProcess(const std::vector<HaproxyServer>& servers, HaproxyOptions options) {
  const std::string binary = haproxyBinary();
  if (binary.empty()) throw std::runtime_error("haproxy not installed");
  socket_path_ = dir_.path() + "/haproxy.sock";
  log_path_ = dir_.path() + "/haproxy.log";
  preforkd::UniqueFd frontend = frontendSocket(&port_);

  // The configuration docs/scale-out.md recommends, minus what only a real fleet needs.
  config_ = fmt::format(
      "global\n"
      "    maxconn 2048\n"
      // One thread: with several, HAProxy 2.6 can exceed a server's maxconn by a session under
      // a burst (threads racing for the last slot; haproxy/haproxy#2744, fixed upstream later),
      // and these tests check preforkd's side of that limit, not HAProxy's threading.
      "    nbthread 1\n"
      "    stats socket {} mode 600 level admin\n"
      "\n"
      "defaults\n"
      "    mode tcp\n"
      "    timeout connect 2s\n"
      "    timeout client 30s\n"
      "    timeout server 30s\n"
      "    timeout queue {}ms\n"
      "\n"
      "frontend clients\n"
      "    bind fd@3\n"
      "    default_backend {}\n"
      "\n"
      "backend {}\n"
      "    balance leastconn\n",
      socket_path_, options.timeout_queue.count(), kBackend, kBackend);
  for (const HaproxyServer& s : servers) {
    config_ += fmt::format(
        "    server {} 127.0.0.1:{} weight 100 agent-check agent-addr 127.0.0.1 agent-port {} "
        "agent-inter {}ms agent-send \"{}\\n\"\n",
        s.name, s.port, s.agent_port, options.agent_inter.count(), options.agent_send);
  }
  const std::string cfg_path = dir_.path() + "/haproxy.cfg";
  {
    std::ofstream out(cfg_path);
    out << config_;
    if (!out) throw std::runtime_error("cannot write " + cfg_path);
  }

  preforkd::UniqueFd log_fd(::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  preforkd::UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!log_fd || !null_fd) throw std::runtime_error(errnoText("open"));
  std::vector<std::string> args{binary, "-db", "-f", cfg_path};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errnoText("fork"));
  if (pid == 0) {
    // Async-signal-safe only from here: the test process has threads.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the test binary dying takes HAProxy with it
    if (::getppid() != parent) ::_exit(126);
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(log_fd.get(), 1) < 0 || ::dup2(log_fd.get(), 2) < 0 ||
        ::dup2(frontend.get(), 3) < 0) {
      ::_exit(126);
    }
    ::syscall(SYS_close_range, 4, ~0U, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  ::setpgid(pid, pid);
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
}

HaproxyProcess::~HaproxyProcess() {
  if (!stop()) ADD_FAILURE() << "haproxy " << pid_ << " had to be killed\n" << log();
}

std::string HaproxyProcess::log() const {
  std::ifstream in(log_path_);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool HaproxyProcess::running() {
  if (pid_ <= 0 || reaped_) return false;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

testing::AssertionResult HaproxyProcess::waitReady(Ms timeout) {
  const bool ok = e2e::eventually(
      [&] { return !running() || command("show info").value_or("").find("Pid: ") != std::string::npos; },
      timeout);
  if (ok && running()) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "haproxy " << (running() ? "does not answer on its stats socket" : "exited")
                                     << "\nconfiguration:\n" << config_ << "output:\n" << log();
}

std::optional<std::string> HaproxyProcess::command(std::string_view cmd, Ms timeout) {
  const auto deadline = e2e::SteadyClock::now() + timeout;
  preforkd::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return std::nullopt;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, socket_path_.c_str(), std::min(socket_path_.size() + 1, sizeof addr.sun_path - 1));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  const std::string line = std::string(cmd) + "\n";
  if (::send(fd.get(), line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    return std::nullopt;
  }
  std::string got;
  for (;;) {
    pollfd p{fd.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, remainingMs(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    char buf[16384];
    const ssize_t r = ::recv(fd.get(), buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return std::nullopt;
    if (r == 0) return got;  // one command per connection: HAProxy closes when done
    got.append(buf, static_cast<std::size_t>(r));
  }
}

std::map<std::string, ServerStat> HaproxyProcess::stats() {
  std::map<std::string, ServerStat> out;
  const auto text = command("show stat");
  if (!text) return out;
  std::istringstream in(*text);
  std::string header;
  if (!std::getline(in, header) || !header.starts_with("# ")) return out;
  const std::vector<std::string> names = splitCsv(header.substr(2));
  for (std::string line; std::getline(in, line);) {
    const std::vector<std::string> values = splitCsv(line);
    ServerStat s;
    for (std::size_t i = 0; i < names.size() && i < values.size(); ++i) s.fields[names[i]] = values[i];
    if (s.fields["pxname"] != kBackend) continue;
    const std::string name = s.fields["svname"];
    if (name == "FRONTEND") continue;
    s.status = s.fields["status"];
    s.weight = number(s.fields, "weight");
    s.slim = number(s.fields, "slim");
    s.scur = number(s.fields, "scur");
    s.smax = number(s.fields, "smax");
    s.stot = number(s.fields, "stot");
    s.qcur = number(s.fields, "qcur");
    s.qmax = number(s.fields, "qmax");
    s.agent_status = s.fields["agent_status"];
    if (s.agent_status.starts_with("* ")) s.agent_status.erase(0, 2);  // "* ": a check under way
    out[name] = std::move(s);
  }
  return out;
}

std::map<std::string, ServerState> HaproxyProcess::serversState() {
  std::map<std::string, ServerState> out;
  const auto text = command(std::string("show servers state ") + kBackend);
  if (!text) return out;
  std::istringstream in(*text);
  std::string version, header;
  if (!std::getline(in, version) || !std::getline(in, header) || !header.starts_with("# ")) return out;
  std::vector<std::string> names;
  {
    std::istringstream h(header.substr(2));
    for (std::string w; h >> w;) names.push_back(w);
  }
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    ServerState s;
    std::size_t i = 0;
    for (std::string w; fields >> w && i < names.size(); ++i) s.fields[names[i]] = w;
    if (s.fields.count("srv_name") == 0) continue;
    s.op_state = static_cast<int>(number(s.fields, "srv_op_state"));
    s.admin_state = static_cast<int>(number(s.fields, "srv_admin_state"));
    s.uweight = static_cast<int>(number(s.fields, "srv_uweight"));
    out[s.fields["srv_name"]] = std::move(s);
  }
  return out;
}

bool HaproxyProcess::stop() {
  if (pid_ <= 0 || reaped_) return true;
  auto waitGone = [&](Ms timeout) {
    const auto deadline = e2e::SteadyClock::now() + timeout;
    for (;;) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_ || (r < 0 && errno == ECHILD)) {
        reaped_ = true;
        return true;
      }
      const int left = remainingMs(deadline);
      if (left == 0) return false;
      pollfd p{pidfd_.get(), POLLIN, 0};
      if (pidfd_) ::poll(&p, 1, std::min(left, 100));
      else std::this_thread::sleep_for(10ms);  // no pidfd: short naps
    }
  };
  // SIGUSR1: stop listening, let sessions end (ours have by now), exit.
  ::kill(pid_, SIGUSR1);
  if (waitGone(3s)) return true;
  ::kill(pid_, SIGTERM);
  if (waitGone(2s)) return false;
  ::kill(-pid_, SIGKILL);
  waitGone(2s);
  return false;
}

}  // namespace haproxy
