// End-to-end: command-line errors and exit statuses, the control socket, listen addresses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "harness.h"

namespace e2e {
namespace {

constexpr int kExitUsage = 64;
constexpr int kExitStartup = 71;

// No sign of a crash or of a sanitizer report in `text`.
testing::AssertionResult noCrashText(const std::string& text) {
  for (const char* bad : {"terminate called", "Sanitizer", "runtime error:", "Aborted",
                          "core dumped", "Segmentation fault", "internal error", "bug:"}) {
    if (text.find(bad) != std::string::npos) {
      return testing::AssertionFailure() << "found '" << bad << "' in:\n" << text;
    }
  }
  return testing::AssertionSuccess();
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A listening TCP socket on addr:0, or an invalid fd if that address cannot be bound here.
preforkd::UniqueFd listenOn(int family, const char* addr, int* port) {
  preforkd::UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    if (::inet_pton(AF_INET, addr, &sin->sin_addr) != 1) return {};
    len = sizeof *sin;
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    if (::inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1) return {};
    len = sizeof *sin6;
  }
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) return {};
  if (::listen(fd.get(), 4) != 0) return {};
  len = sizeof ss;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  if (port) {
    *port = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                              : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  }
  return fd;
}

// A Unix stream socket bound at `path` (listening if `listen`).
preforkd::UniqueFd bindUnix(const std::string& path, bool listen) {
  preforkd::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  if (listen && ::listen(fd.get(), 4) != 0) return {};
  return fd;
}

// Sends `request` on a new control connection, half-closes it, and expects exactly one
// `show workers` response followed by EOF.
testing::AssertionResult halfClosedRequestIsAnswered(const std::string& path,
                                                     const std::string& request) {
  Client c;
  if (auto r = c.connectUnix(path); !r) return r;
  if (auto r = c.send(request); !r) return r;
  c.shutdownWrite();
  const auto all = c.readAll(2s);
  if (!all.eof) {
    return testing::AssertionFailure() << "no EOF: error=" << all.error
                                       << " timed_out=" << all.timed_out;
  }
  if (!all.data.starts_with("slot pid state served conn conn_age_s ") ||
      all.data.find("\n\n") != all.data.size() - 2) {
    return testing::AssertionFailure() << "expected one `show workers` response ended by an "
                                          "empty line, got '" << all.data << "'";
  }
  return testing::AssertionSuccess();
}

// ------------------------------------------------------------------ 9. command line

struct BadFlags {
  std::vector<std::string> args;
  std::string mentioned;  // the message names the option or the value
};

TEST(CommandLine, BadFlagsExit64WithAMessage) {
  const BadFlags cases[] = {
      {{"--workers", "0"}, "--workers"},
      {{"--workers", "abc"}, "--workers"},
      {{"--workers", "5000"}, "--workers"},
      {{"--listen", "nohost"}, "nohost"},
      {{"--listen", "127.0.0.1:99999"}, "127.0.0.1:99999"},
      {{"--listen", "localhost:2323"}, "localhost:2323"},
      {{"--listen", "::1:2323"}, "::1:2323"},
      {{"--idle-timeout", "-5"}, "--idle-timeout"},
      {{"--idle-timeout", "5 parsecs"}, "--idle-timeout"},
      {{"--shutdown-timeout", "0"}, "--shutdown-timeout"},
      {{"--max-line", "8"}, "--max-line"},
      {{"--log-level", "loud"}, "loud"},
      {{"--service", "chargen"}, "chargen"},
      {{"--no-such-flag"}, "--no-such-flag"},
  };
  for (const BadFlags& c : cases) {
    std::string shown;
    for (const std::string& a : c.args) shown += a + " ";
    SCOPED_TRACE("preforkd " + shown);
    PreforkdProcess p(c.args);
    const ExitStatus st = p.waitExit(5s);
    ASSERT_TRUE(st.exited) << "still running with bad flags";
    EXPECT_TRUE(st.exitedWith(kExitUsage)) << st.describe() << "\n" << p.log();
    const std::string err = p.log();
    EXPECT_NE(err.find(c.mentioned), std::string::npos)
        << "the message should name '" << c.mentioned << "'; stderr:\n" << err;
    EXPECT_TRUE(noCrashText(err + p.stdoutText()));
    EXPECT_EQ(err.find("started worker"), std::string::npos) << "no worker may start";
    EXPECT_FALSE(exists(p.controlPath())) << "no control socket may be created";
  }
}

TEST(CommandLine, HelpAndVersionExitZero) {
  {
    PreforkdProcess p({"--help"});
    const ExitStatus st = p.waitExit(5s);
    EXPECT_TRUE(st.exitedWith(0)) << st.describe() << "\n" << p.log();
    const std::string out = p.stdoutText() + p.log();
    EXPECT_NE(out.find("Usage:"), std::string::npos) << out;
    for (const char* flag : {"--listen", "--workers", "--control-socket", "--no-banner",
                             "--idle-timeout", "--shutdown-timeout", "--log-level"}) {
      EXPECT_NE(out.find(flag), std::string::npos) << "help does not mention " << flag;
    }
    EXPECT_TRUE(noCrashText(out));
    EXPECT_FALSE(exists(p.controlPath()));
  }
  {
    PreforkdProcess p({"--version"});
    const ExitStatus st = p.waitExit(5s);
    EXPECT_TRUE(st.exitedWith(0)) << st.describe() << "\n" << p.log();
    const std::string out = p.stdoutText() + p.log();
    EXPECT_TRUE(std::regex_search(out, std::regex(R"(^preforkd \d+\.\d+\.\d+\n$)"))) << out;
    EXPECT_FALSE(exists(p.controlPath()));
  }
}

TEST(CommandLine, PortInUseExits71NamingTheAddress) {
  int port = 0;
  const preforkd::UniqueFd taken = listenOn(AF_INET, "127.0.0.1", &port);
  ASSERT_TRUE(taken.valid()) << std::strerror(errno);
  const std::string addr = "127.0.0.1:" + std::to_string(port);

  PreforkdProcess p({"--listen", addr});
  const ExitStatus st = p.waitExit(5s);
  ASSERT_TRUE(st.exited) << "still running although its port is taken\n" << p.log();
  EXPECT_TRUE(st.exitedWith(kExitStartup)) << st.describe() << "\n" << p.log();
  const std::string err = p.log();
  EXPECT_NE(err.find(addr), std::string::npos) << "the message should name " << addr << ":\n"
                                               << err;
  EXPECT_NE(err.find("Address already in use"), std::string::npos) << err;
  EXPECT_TRUE(noCrashText(err));
  EXPECT_EQ(err.find("started worker"), std::string::npos);
  EXPECT_FALSE(exists(p.controlPath()));
}

TEST(CommandLine, ControlSocketPathThatIsARegularFileExits71AndIsLeftAlone) {
  TempDir d;
  const std::string path = d.path() + "/not-a-socket";
  const std::string content = "precious data\n";
  { std::ofstream(path, std::ios::binary) << content; }
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);

  PreforkdProcess p({"--control-socket", path});
  const ExitStatus st = p.waitExit(5s);
  ASSERT_TRUE(st.exited) << p.log();
  EXPECT_TRUE(st.exitedWith(kExitStartup)) << st.describe() << "\n" << p.log();
  const std::string err = p.log();
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("not a socket"), std::string::npos) << err;
  EXPECT_TRUE(noCrashText(err));
  EXPECT_EQ(err.find("started worker"), std::string::npos);

  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0) << "the file was removed";
  EXPECT_TRUE(S_ISREG(after.st_mode));
  EXPECT_EQ(after.st_ino, before.st_ino);
  EXPECT_EQ(after.st_mode, before.st_mode);
  EXPECT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(readFile(path), content);
}

// ------------------------------------------------------------------ 10. control socket

TEST(ControlSocket, ModeCommandsPipeliningHalfCloseAndRemoval) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());

  struct stat st {};
  ASSERT_EQ(::lstat(p.controlPath().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u) << std::oct << (st.st_mode & 07777);

  const auto help = p.control("help");
  ASSERT_TRUE(help);
  EXPECT_NE(help->find("show info"), std::string::npos) << *help;
  EXPECT_NE(help->find("show workers"), std::string::npos) << *help;

  const auto unknown = p.control("frobnicate now");
  ASSERT_TRUE(unknown);
  EXPECT_TRUE(unknown->starts_with("ERROR ")) << *unknown;
  EXPECT_EQ(std::count(unknown->begin(), unknown->end(), '\n'), 1) << *unknown;
  const auto empty = p.control("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->starts_with("ERROR ")) << *empty;

  const auto info = p.info();
  EXPECT_EQ(info.count("pid") ? info.at("pid") : "", std::to_string(p.pid()));
  EXPECT_EQ(info.count("workers_total") ? info.at("workers_total") : "", "2");
  EXPECT_EQ(info.count("state") ? info.at("state") : "", "running");
  const auto rows = p.workers();
  ASSERT_EQ(rows.size(), 2u);
  for (const WorkerRow& w : rows) {
    EXPECT_EQ(w.state, "idle");
    EXPECT_EQ(parentPid(w.pid), p.pid());
  }

  // Two commands in one write: two responses, each ended by an empty line, nothing more.
  {
    Client c;
    ASSERT_TRUE(c.connectUnix(p.controlPath()));
    ASSERT_TRUE(c.send("help\nshow info\n"));
    const auto first = c.readUntil("\n\n");
    ASSERT_TRUE(first) << "got '" << c.pending() << "'";
    EXPECT_EQ(*first, *help + "\n");
    const auto second = c.readUntil("\n\n");
    ASSERT_TRUE(second) << "got '" << c.pending() << "'";
    EXPECT_TRUE(second->starts_with("pid: ")) << *second;
    EXPECT_NE(second->find("\nworkers_total: 2\n"), std::string::npos) << *second;
    EXPECT_FALSE(c.readable(100ms)) << "unexpected '" << c.pending() << "'";
    // The connection stays usable, and CR LF works too.
    ASSERT_TRUE(c.send("show workers\r\n"));
    const auto third = c.readUntil("\n\n");
    ASSERT_TRUE(third) << "got '" << c.pending() << "'";
    EXPECT_TRUE(third->starts_with("slot pid state served conn conn_age_s ")) << *third;
  }
  // One line, then half-close: the response still comes, then EOF.
  EXPECT_TRUE(halfClosedRequestIsAnswered(p.controlPath(), "show workers\n"));
  // Many pipelined commands, then half-close: far more output than a socket buffer holds is
  // still pending at EOF, and all of it must arrive before the close.
  {
    constexpr int kCommands = 1000;
    std::string batch;
    for (int i = 0; i < kCommands; ++i) batch += "show info\n";
    Client c;
    ASSERT_TRUE(c.connectUnix(p.controlPath()));
    ASSERT_TRUE(c.send(batch));
    c.shutdownWrite();
    const auto all = c.readAll(5s);
    EXPECT_TRUE(all.eof) << "error=" << all.error << " timed_out=" << all.timed_out;
    int responses = 0;
    for (std::size_t at = 0; at < all.data.size();) {
      const auto end = all.data.find("\n\n", at);
      if (end == std::string::npos) break;
      EXPECT_EQ(all.data.compare(at, 5, "pid: "), 0) << "response " << responses;
      ++responses;
      at = end + 2;
    }
    EXPECT_EQ(responses, kCommands) << all.data.size() << " bytes received";
  }

  p.signal(SIGTERM);
  const ExitStatus exit = p.waitExit(5s);
  EXPECT_TRUE(exit.exitedWith(0)) << exit.describe();
  EXPECT_FALSE(exists(p.controlPath())) << "control socket file left after exit";
}

// The last command may lack its newline when the client half-closes: control_socket.cpp says
// it answers "any complete final line without a terminator too".
TEST(ControlSocket, UnterminatedLastCommandIsAnsweredOnHalfClose) {
  PreforkdProcess p({"--workers", "1"});
  ASSERT_TRUE(p.waitReady());
  EXPECT_TRUE(halfClosedRequestIsAnswered(p.controlPath(), "show workers"));
  // The connection must not have upset anything.
  EXPECT_EQ(p.infoNumber("workers_total"), 1u);
}

TEST(ControlSocket, StaleSocketFileIsReplaced) {
  TempDir d;
  const std::string path = d.path() + "/stale.sock";
  struct stat before {};
  {
    const preforkd::UniqueFd stale = bindUnix(path, false);
    ASSERT_TRUE(stale.valid()) << std::strerror(errno);
  }  // closed without unlink: the file stays, nobody answers
  ASSERT_EQ(::lstat(path.c_str(), &before), 0);
  ASSERT_TRUE(S_ISSOCK(before.st_mode));

  PreforkdProcess p({"--workers", "1", "--control-socket", path});
  ASSERT_TRUE(p.waitReady());
  EXPECT_NE(p.log().find("removing stale control socket " + path), std::string::npos) << p.log();
  struct stat after {};
  ASSERT_EQ(::lstat(path.c_str(), &after), 0);
  EXPECT_TRUE(S_ISSOCK(after.st_mode));
  EXPECT_EQ(after.st_mode & 07777, 0600u);
  // A stale socket file refuses connections; answering proves it was replaced. (The inode
  // number proves nothing: the file system may hand the freed number out again.)
  EXPECT_EQ(p.infoNumber("workers_total"), 1u);

  p.signal(SIGTERM);
  EXPECT_TRUE(p.waitExit(5s).exitedWith(0));
  EXPECT_FALSE(exists(path));
}

TEST(ControlSocket, LiveSocketOfAnotherProcessIsNotTaken) {
  TempDir d;
  const std::string path = d.path() + "/busy.sock";
  const preforkd::UniqueFd other = bindUnix(path, true);
  ASSERT_TRUE(other.valid()) << std::strerror(errno);

  PreforkdProcess p({"--workers", "1", "--control-socket", path});
  const ExitStatus st = p.waitExit(5s);
  ASSERT_TRUE(st.exited) << p.log();
  EXPECT_TRUE(st.exitedWith(kExitStartup)) << st.describe() << "\n" << p.log();
  EXPECT_NE(p.log().find("another process is answering"), std::string::npos) << p.log();
  EXPECT_TRUE(noCrashText(p.log()));
  // Still ours: the file is there and connections reach our socket.
  Client c;
  EXPECT_TRUE(c.connectUnix(path));
}

// ------------------------------------------------------------------ 11. listen addresses

TEST(Listen, Ipv6Loopback) {
  {
    int port = 0;
    if (!listenOn(AF_INET6, "::1", &port).valid()) GTEST_SKIP() << "::1 cannot be bound here";
  }
  PreforkdProcess p({"--workers", "1", "--listen", "[::1]:0"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_EQ(p.listenAddresses().size(), 1u);
  EXPECT_TRUE(p.listenAddresses()[0].starts_with("[::1]:")) << p.listenAddresses()[0];

  Client c;
  ASSERT_TRUE(c.connect(p.port(), "::1"));
  const auto banner = c.readLine(3s);
  ASSERT_TRUE(banner) << c.pending();
  EXPECT_TRUE(parseBanner(*banner)) << *banner;
  ASSERT_TRUE(c.send("over ipv6\r\n"));
  EXPECT_EQ(c.readLine(), "over ipv6");
  ASSERT_TRUE(c.send("quit\r\n"));
  EXPECT_EQ(c.readLine(), "Goodbye.");
  EXPECT_TRUE(c.readAll(2s).eof);
  // IPV6_V6ONLY: the IPv4 loopback on the same port is not ours.
  Client v4;
  EXPECT_FALSE(v4.connect(p.port(), "127.0.0.1"));
}

TEST(Listen, TwoAddressesBothAccept) {
  {
    int port = 0;
    if (!listenOn(AF_INET, "127.0.0.2", &port).valid()) {
      GTEST_SKIP() << "127.0.0.2 cannot be bound here";
    }
  }
  PreforkdProcess p({"--workers", "2", "--listen", "127.0.0.1:0", "--listen", "127.0.0.2:0"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_EQ(p.listenAddresses().size(), 2u);
  EXPECT_TRUE(p.listenAddresses()[0].starts_with("127.0.0.1:")) << p.listenAddresses()[0];
  EXPECT_TRUE(p.listenAddresses()[1].starts_with("127.0.0.2:")) << p.listenAddresses()[1];
  EXPECT_NE(p.log().find("ready: 2 workers serving " + p.listenAddresses()[0] + ", " +
                         p.listenAddresses()[1]),
            std::string::npos)
      << p.log();
  const auto info = p.control("show info");
  ASSERT_TRUE(info);
  EXPECT_NE(info->find("listen: " + p.listenAddresses()[0] + "\n"), std::string::npos) << *info;
  EXPECT_NE(info->find("listen: " + p.listenAddresses()[1] + "\n"), std::string::npos) << *info;

  for (int round = 0; round < 2; ++round) {
    for (std::size_t i = 0; i < 2; ++i) {
      Banner b;
      EXPECT_TRUE(serveOne(p.port(i), &b, i == 0 ? "127.0.0.1" : "127.0.0.2"))
          << p.listenAddresses()[i];
    }
  }
  // Both at once: one client per address, served concurrently.
  Client a, b;
  ASSERT_TRUE(a.connect(p.port(0), "127.0.0.1"));
  ASSERT_TRUE(b.connect(p.port(1), "127.0.0.2"));
  EXPECT_TRUE(a.readLine(3s));
  EXPECT_TRUE(b.readLine(3s));
}

}  // namespace
}  // namespace e2e
