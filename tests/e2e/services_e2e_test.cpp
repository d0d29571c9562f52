// End-to-end: the built-in services (shell, bytes, rpc), --list-services, and workers started
// with --worker-exec (preforkd-worker, the Python example, and a program that cannot start).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cstring>
#include <regex>

#include <nlohmann/json.hpp>

#include "harness.h"

#ifndef PREFORKD_WORKER_BINARY
#error "PREFORKD_WORKER_BINARY must name the preforkd-worker binary"
#endif

namespace e2e {
namespace {

using nlohmann::json;

// ------------------------------------------------------------------ --list-services

TEST(Services, ListServicesNamesEveryBuiltInService) {
  const CommandResult r = runCommand({PREFORKD_BINARY, "--list-services"}, 5s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_TRUE(WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0) << r.output;
  const std::string listing = "\n" + r.output;
  for (const char* name : {"echo ", "shell ", "bytes ", "rpc "}) {
    EXPECT_NE(listing.find(std::string("\n") + name), std::string::npos) << name << r.output;
  }
  const CommandResult bad = runCommand({PREFORKD_BINARY, "--service", "nope"}, 5s);
  EXPECT_TRUE(WIFEXITED(bad.wait_status) && WEXITSTATUS(bad.wait_status) == 64) << bad.output;
}

// ------------------------------------------------------------------ shell

TEST(Shell, CommandsOverARawSocket) {
  PreforkdProcess p({"--service", "shell", "--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  const auto banner = c.readLine();
  ASSERT_TRUE(banner);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(*banner, m, std::regex(R"(preforkd shell service, worker pid (\d+), connection (\d+)\. Type HELP for commands\.)")))
      << *banner;
  const pid_t worker = std::stoi(m[1]);
  const std::string conn = m[2];
  const auto pids = p.workerPids();
  EXPECT_NE(std::find(pids.begin(), pids.end(), worker), pids.end());

  ASSERT_TRUE(c.send("PING\r\nping\nEcho   hello,  world \r\n"));
  EXPECT_EQ(c.readLine(), "PONG");
  EXPECT_EQ(c.readLine(), "PONG");
  EXPECT_EQ(c.readLine(), "hello,  world ");

  ASSERT_TRUE(c.send("time\r\n"));
  const auto t = c.readLine();
  ASSERT_TRUE(t);
  EXPECT_TRUE(std::regex_match(*t, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"))) << *t;

  ASSERT_TRUE(c.send("INFO\r\n"));
  std::map<std::string, std::string> info;
  for (int i = 0; i < 6; ++i) {
    const auto line = c.readLine();
    ASSERT_TRUE(line);
    const auto colon = line->find(": ");
    ASSERT_NE(colon, std::string::npos) << *line;
    info[line->substr(0, colon)] = line->substr(colon + 2);
  }
  EXPECT_EQ(info["worker_pid"], std::to_string(worker));
  EXPECT_EQ(info["generation"], "1");
  EXPECT_EQ(info["served"], "0");
  EXPECT_EQ(info["connection"], conn);
  sockaddr_in local{};
  socklen_t len = sizeof local;
  ASSERT_EQ(::getsockname(c.fd(), reinterpret_cast<sockaddr*>(&local), &len), 0);
  EXPECT_EQ(info["peer"], "127.0.0.1:" + std::to_string(ntohs(local.sin_port)));
  EXPECT_TRUE(std::regex_match(info["age_s"], std::regex(R"(\d+\.\d{3})"))) << info["age_s"];

  // Errors are one line each and the session goes on.
  ASSERT_TRUE(c.send("frobnicate\r\nPING now\r\nECHO\r\nPING\r\n"));
  EXPECT_EQ(c.readLine(), "ERR unknown command 'frobnicate' (try HELP)");
  const auto e1 = c.readLine();
  ASSERT_TRUE(e1);
  EXPECT_EQ(e1->rfind("ERR ", 0), 0u) << *e1;
  const auto e2 = c.readLine();
  ASSERT_TRUE(e2);
  EXPECT_EQ(e2->rfind("ERR ", 0), 0u) << *e2;
  EXPECT_EQ(c.readLine(), "PONG");

  ASSERT_TRUE(c.send("Exit\r\n"));
  EXPECT_EQ(c.readLine(), "Goodbye.");
  EXPECT_TRUE(c.readAll().eof);
}

TEST(Shell, RealTelnetSession) {
  const std::string expect = findInPath("expect");
  const std::string telnet = findInPath("telnet");
  if (expect.empty() || telnet.empty()) {
    GTEST_SKIP() << "needs `expect` and `telnet` (scripts/install-deps --test installs them)";
  }
  PreforkdProcess p({"--service", "shell", "--workers", "1"});
  ASSERT_TRUE(p.waitReady());
  const CommandResult r = runCommand(
      {expect, PREFORKD_SOURCE_DIR "/tests/e2e/shell_session.exp", std::to_string(p.port())}, 30s);
  ASSERT_FALSE(r.timed_out) << r.output;
  EXPECT_TRUE(WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0) << r.output;
  EXPECT_TRUE(p.waitCompleted(1));
}

// ------------------------------------------------------------------ bytes

std::string pattern(std::size_t n) {
  static constexpr std::string_view kPattern = "0123456789abcdef";
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; ++i) out[i] = kPattern[i % kPattern.size()];
  return out;
}

TEST(Bytes, ServesExactCountsRepeatedlyOnOneConnection) {
  constexpr std::size_t kMax = 1'000'000;
  PreforkdProcess p({"--service", "bytes", "--workers", "2", "--bytes-max", std::to_string(kMax)});
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  for (std::size_t n : {std::size_t{1}, std::size_t{4000}, kMax, std::size_t{17}}) {
    ASSERT_TRUE(c.send(std::to_string(n) + "\n"));  // the textbook client sends "%d\n"
    const auto got = c.readExactly(n, 5s);
    ASSERT_TRUE(got) << n;
    EXPECT_TRUE(*got == pattern(n)) << "reply of " << n << " bytes differs";
  }
  EXPECT_FALSE(c.readable(100ms)) << "no byte beyond the count";
  c.shutdownWrite();
  EXPECT_TRUE(c.readAll().eof);
  EXPECT_TRUE(p.waitCompleted(1));
}

TEST(Bytes, EveryKindOfBadRequestGetsOneErrorLineAndAClose) {
  PreforkdProcess p({"--service", "bytes", "--workers", "2", "--bytes-max", "1000"});
  ASSERT_TRUE(p.waitReady());
  for (const char* bad : {"abc\n", "0\n", "-5\n", "1001\n", "12x\n", "\n", "1.5\n",
                          "99999999999999999999999\n", "123456789012345678901234567890123456\n"}) {
    Client c;
    ASSERT_TRUE(c.connect(p.port()));
    ASSERT_TRUE(c.send(bad));
    const auto all = c.readAll(3s);
    EXPECT_TRUE(all.eof) << "no clean close after '" << bad << "'";
    EXPECT_EQ(all.data.rfind("ERR ", 0), 0u) << bad << " -> " << all.data;
    EXPECT_EQ(all.data.find("\r\n"), all.data.size() - 2) << "one line: " << all.data;
  }
  EXPECT_EQ(p.infoNumber("workers_total"), 2u);  // nobody crashed
}

// ------------------------------------------------------------------ rpc

std::string frame(std::string_view body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string out{static_cast<char>(n & 0xff), static_cast<char>((n >> 8) & 0xff),
                  static_cast<char>((n >> 16) & 0xff), static_cast<char>((n >> 24) & 0xff)};
  out += body;
  return out;
}

std::optional<json> readReply(Client& c) {
  const auto header = c.readExactly(4, 3s);
  if (!header) return std::nullopt;
  std::uint32_t n = 0;
  for (int i = 3; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>((*header)[i]);
  const auto body = c.readExactly(n, 3s);
  if (!body) return std::nullopt;
  return json::parse(*body, nullptr, false);
}

TEST(Rpc, SeedProtocol) {
  PreforkdProcess p({"--service", "rpc", "--workers", "2", "--rpc-max-frame", "4096"});
  ASSERT_TRUE(p.waitReady());
  Client c;
  ASSERT_TRUE(c.connect(p.port()));

  const json params = {{"a", {1, 2, 3}}, {"b", "x"}};
  ASSERT_TRUE(c.send(frame(json{{"in", "ping"}, {"params", params}}.dump())));
  auto r = readReply(c);
  ASSERT_TRUE(r && r->is_object());
  EXPECT_EQ((*r)["out"], "pong");
  EXPECT_EQ((*r)["result"], params);

  ASSERT_TRUE(c.send(frame(R"({"in": "nosuch", "params": null})")));
  r = readReply(c);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["out"], "error");
  EXPECT_EQ((*r)["result"]["code"], "unknown-method");

  ASSERT_TRUE(c.send(frame("{not json")));
  r = readReply(c);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["result"]["code"], "invalid-json");

  ASSERT_TRUE(c.send(frame(R"(["in", "ping"])")));
  r = readReply(c);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["result"]["code"], "bad-request");

  // A frame split across many small writes.
  const std::string split = frame(R"({"in": "ping", "params": "slow"})");
  for (char ch : split) ASSERT_TRUE(c.send(std::string(1, ch)));
  r = readReply(c);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["out"], "pong");
  EXPECT_EQ((*r)["result"], "slow");

  // An oversized frame: one error reply, then a clean close.
  const std::string huge{'\x00', '\x00', '\x10', '\x00'};  // 1 MiB: above --rpc-max-frame
  ASSERT_TRUE(c.send(huge));
  r = readReply(c);
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)["result"]["code"], "frame-too-large");
  EXPECT_TRUE(c.readAll(3s).eof);
  EXPECT_TRUE(p.waitCompleted(1));
}

// ------------------------------------------------------------------ --worker-exec

TEST(WorkerExec, PreforkdWorkerRunsABuiltInService) {
  PreforkdProcess p({"--workers", "2", "--worker-exec", PREFORKD_WORKER_BINARY, "--service",
                     "shell", "--log-level", "debug"});
  ASSERT_TRUE(p.waitReady());
  for (pid_t w : p.workerPids()) {
    char exe[512] = {};
    const std::string link = "/proc/" + std::to_string(w) + "/exe";
    ASSERT_GT(::readlink(link.c_str(), exe, sizeof exe - 1), 0);
    EXPECT_NE(std::string(exe).find("preforkd-worker"), std::string::npos) << exe;
    const auto fds = fdTargets(w);
    ASSERT_EQ(fds.size(), 4u) << describeFds(fds);  // stdio + the channel, nothing else
    EXPECT_EQ(fds[3].fd, 3);
    EXPECT_EQ(fds[3].target.rfind("socket:", 0), 0u) << describeFds(fds);
  }
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(c.readUntil("Type HELP for commands.\r\n"));
  ASSERT_TRUE(c.send("PING\r\nQUIT\r\n"));
  EXPECT_EQ(c.readLine(), "PONG");
  EXPECT_EQ(c.readLine(), "Goodbye.");
  EXPECT_TRUE(c.readAll().eof);
  EXPECT_TRUE(p.waitCompleted(1));
}

TEST(WorkerExec, PythonExampleWorker) {
  const std::string python = findInPath("python3");
  if (python.empty()) GTEST_SKIP() << "needs python3 (scripts/install-deps --test installs it)";
  PreforkdProcess p({"--workers", "2", "--worker-exec", python,
                     PREFORKD_SOURCE_DIR "/examples/python_worker.py"});
  ASSERT_TRUE(p.waitReady(10s));
  for (int i = 0; i < 4; ++i) {  // both workers, twice: they return to idle
    Client c;
    ASSERT_TRUE(c.connect(p.port()));
    ASSERT_TRUE(c.readUntil("'quit' closes.\r\n", 5s));
    ASSERT_TRUE(c.send("hello python\r\nquit\r\n"));
    EXPECT_EQ(c.readLine(), "HELLO PYTHON");
    EXPECT_EQ(c.readLine(), "Goodbye.");
    EXPECT_TRUE(c.readAll().eof);
    ASSERT_TRUE(p.waitCompleted(static_cast<std::uint64_t>(i) + 1));
  }
  for (const WorkerRow& w : p.workers()) EXPECT_EQ(w.served, 2u) << w.pid;
  // Stop reaches a Python worker in a session: it says goodbye (a fast shutdown stops
  // sessions at once).
  Client open;
  ASSERT_TRUE(open.connect(p.port()));
  ASSERT_TRUE(open.readUntil("'quit' closes.\r\n", 5s));
  p.signal(SIGINT);
  EXPECT_EQ(open.readLine(5s), "preforkd is shutting down. Goodbye.");
  EXPECT_TRUE(p.waitExit(5s).exitedWith(0));
}

TEST(WorkerExec, AWorkerThatCannotStartIsThrottledNotStormed) {
  const std::string fail = findInPath("false");
  ASSERT_FALSE(fail.empty());
  PreforkdProcess p({"--workers", "4", "--worker-exec", fail});
  // It never becomes ready, but it stays up, says why, and backs off.
  ASSERT_TRUE(p.waitForLog(std::regex("workers fail at start-up"), 5s)) << p.log();
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return i.at("throttled") == "yes"; }, 5s,
                         "throttled"));
  const std::uint64_t spawned_early = p.infoNumber("children_spawned");
  ASSERT_TRUE(p.waitForLog(std::regex(R"(next attempt in (1600|3200|6400) ms)"), 10s)) << p.log();
  const std::uint64_t spawned_late = p.infoNumber("children_spawned");
  // Exponential back-off: within several seconds only a handful of forks, not thousands.
  EXPECT_LT(spawned_late, 16u) << "early " << spawned_early;
  EXPECT_GE(p.infoNumber("children_start_failures") + 1, spawned_late);
  EXPECT_TRUE(p.control("show info").has_value()) << "the supervisor stays responsive";
  p.signal(SIGTERM);
  EXPECT_TRUE(p.waitExit(5s).exitedWith(0));
}

}  // namespace
}  // namespace e2e
