// End-to-end: the stats control socket against the real binary. Every read command (also
// while every worker is busy), ';' commands, prompt mode, malformed / oversized / interleaved
// input, many concurrent clients, a client that never reads, access levels for a second uid,
// the socket's mode and group, and `promtool check metrics`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace e2e {
namespace {

using Json = nlohmann::json;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// All responses of one request (a line with several commands, or several lines) sent on a
// fresh connection that is then half-closed: the responses, split at their empty lines.
std::vector<std::string> requestAll(const std::string& path, const std::string& request,
                                    Ms timeout = 3s) {
  Client c;
  if (!c.connectUnix(path)) return {};
  if (!c.send(request)) return {};
  c.shutdownWrite();
  const auto all = c.readAll(timeout);
  std::vector<std::string> out;
  for (std::size_t at = 0; at < all.data.size();) {
    const auto end = all.data.find("\n\n", at);
    if (end == std::string::npos) {
      out.push_back(all.data.substr(at));  // an unterminated tail: shows up in a failure
      break;
    }
    out.push_back(all.data.substr(at, end + 1 - at));
    at = end + 2;
  }
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

testing::AssertionResult holdClient(int port, Client* c, Banner* banner) {
  if (auto r = c->connect(port); !r) return r;
  const auto line = c->readLine(3s);
  if (!line) return testing::AssertionFailure() << "no banner; got '" << c->pending() << "'";
  const auto b = parseBanner(*line);
  if (!b) return testing::AssertionFailure() << "not a banner: " << *line;
  *banner = *b;
  return testing::AssertionSuccess();
}

std::string localAddress(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof ip);
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

// ------------------------------------------------------------------ read commands

TEST(Control, EveryReadCommandWhileEveryWorkerIsBusy) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  Client a, b;
  Banner ba, bb;
  ASSERT_TRUE(holdClient(p.port(), &a, &ba));
  ASSERT_TRUE(holdClient(p.port(), &b, &bb));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return i.at("workers_busy") == "2"; }, 5s,
                         "both workers busy"));
  // A third client waits in the kernel's accept queue: no worker is idle, and without
  // --queue the supervisor stops accepting.
  Client waiting;
  ASSERT_TRUE(waiting.connect(p.port()));

  const auto info = p.info();
  EXPECT_EQ(info.at("workers_idle"), "0");
  EXPECT_EQ(info.at("workers_total"), "2");
  EXPECT_EQ(info.at("conns_accepted"), "2");
  EXPECT_EQ(info.at("state"), "running");
  EXPECT_EQ(info.at("generation"), "1");
  EXPECT_EQ(info.at("pool_mode"), "static");
  EXPECT_EQ(info.at("policy"), "lru");

  // The listen queue as the kernel sees it (TCP_INFO): the waiting client, of a limit of 511.
  Json info_json;
  EXPECT_TRUE(eventually([&] {
    const auto r = p.control("show info json");
    if (!r) return false;
    info_json = Json::parse(*r);
    return info_json["listeners"][0]["queue_now"] == 1;
  })) << info_json.dump();
  EXPECT_EQ(info_json["listeners"][0]["queue_limit"], 511);
  EXPECT_EQ(info_json["workers"]["busy"], 2);
  EXPECT_EQ(info_json["pid"], p.pid());
  const auto text_info = p.control("show info");
  ASSERT_TRUE(text_info);
  EXPECT_NE(text_info->find("\nlisten_queue: " + p.listenAddresses()[0] + " now 1 limit 511\n"),
            std::string::npos)
      << *text_info;

  // show workers: both busy, each with its connection, peer and the scoreboard.
  const auto workers = p.control("show workers");
  ASSERT_TRUE(workers);
  const auto rows = lines(*workers);
  ASSERT_EQ(rows.size(), 4u) << *workers;
  EXPECT_EQ(rows[0], "slot pid state served conn conn_age_s gen peer last_conn_s started");
  EXPECT_EQ(rows[3], "scoreboard: WW");
  const Json wj = Json::parse(*p.control("show workers json"));
  EXPECT_EQ(wj["scoreboard"], "WW");
  std::map<pid_t, Json> by_pid;
  for (const Json& w : wj["workers"]) by_pid[w["pid"].get<pid_t>()] = w;
  ASSERT_EQ(by_pid.count(ba.pid), 1u) << wj.dump();
  ASSERT_EQ(by_pid.count(bb.pid), 1u) << wj.dump();
  EXPECT_EQ(by_pid[ba.pid]["conn"], ba.conn);
  EXPECT_EQ(by_pid[bb.pid]["conn"], bb.conn);
  EXPECT_EQ(by_pid[ba.pid]["state"], "busy");
  EXPECT_EQ(by_pid[ba.pid]["generation"], 1);

  // show conns: one row per connection in service, with its worker and peer.
  const Json cj = Json::parse(*p.control("show conns json"));
  ASSERT_EQ(cj["connections"].size(), 2u) << cj.dump();
  for (const Json& c : cj["connections"]) {
    const Banner& owner = c["id"] == ba.conn ? ba : bb;
    EXPECT_EQ(c["child_pid"], owner.pid) << c.dump();
    EXPECT_EQ(c["state"], "in-service") << c.dump();
    const std::string peer = c["id"] == ba.conn ? localAddress(a.fd()) : localAddress(b.fd());
    EXPECT_EQ(c["peer"], peer) << c.dump();
  }
  const auto conns = p.control("show conns");
  ASSERT_TRUE(conns);
  EXPECT_EQ(lines(*conns).size(), 3u) << *conns;
  EXPECT_EQ(lines(*conns)[0], "id peer child state age_s queue_wait_s");

  // show hist: the four histograms, text and JSON.
  const auto hist = p.control("show hist");
  ASSERT_TRUE(hist);
  const auto hist_rows = lines(*hist);
  ASSERT_EQ(hist_rows.size(), 5u) << *hist;
  EXPECT_EQ(hist_rows[0], "histogram count p50_us p90_us p99_us p99.9_us max_us mean_us");
  for (const char* name : {"queue_wait ", "handoff ", "service_time ", "startup "}) {
    EXPECT_TRUE(std::any_of(hist_rows.begin(), hist_rows.end(),
                            [&](const std::string& r) { return r.starts_with(name); }))
        << name;
  }
  const Json hj = Json::parse(*p.control("show hist json"));
  for (const char* name : {"queue_wait", "handoff", "service_time", "startup"}) {
    EXPECT_TRUE(hj["histograms"].contains(name)) << hj.dump();
    EXPECT_TRUE(hj["histograms"][name].contains("p99_9_us")) << hj.dump();
  }

  // show metrics.
  const auto metrics = p.control("show metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->find("\npreforkd_workers{state=\"busy\"} 2\n"), std::string::npos) << *metrics;
  EXPECT_NE(metrics->find("\npreforkd_workers{state=\"idle\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics->find("\npreforkd_connections_accepted_total 2\n"), std::string::npos);
  EXPECT_NE(metrics->find("preforkd_listen_queue_length{listener=\"" + p.listenAddresses()[0] +
                          "\"} 1\n"),
            std::string::npos)
      << *metrics;
  EXPECT_NE(metrics->find("# TYPE preforkd_service_time_seconds histogram\n"), std::string::npos);

  // help.
  const auto help = p.control("help");
  ASSERT_TRUE(help);
  EXPECT_NE(help->find("show metrics"), std::string::npos);

  // The waiting client is served once a worker frees up.
  ASSERT_TRUE(a.send("quit\r\n"));
  EXPECT_TRUE(a.readAll(3s).eof);
  const auto banner = waiting.readLine(3s);
  ASSERT_TRUE(banner) << waiting.pending();
  EXPECT_TRUE(parseBanner(*banner));
}

TEST(Control, SemicolonCommandsAndPromptMode) {
  PreforkdProcess p({"--workers", "1"});
  ASSERT_TRUE(p.waitReady());
  const auto r = requestAll(p.controlPath(), "show info;show workers ; help\n");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_TRUE(r[0].starts_with("pid: ")) << r[0];
  EXPECT_TRUE(r[1].starts_with("slot pid state")) << r[1];
  EXPECT_TRUE(r[2].starts_with("help ")) << r[2];

  Client c;
  ASSERT_TRUE(c.connectUnix(p.controlPath()));
  ASSERT_TRUE(c.send("prompt\n"));
  const auto on = c.readUntil("\n\n> ");
  ASSERT_TRUE(on) << c.pending();
  EXPECT_TRUE(on->starts_with("interactive mode")) << *on;
  ASSERT_TRUE(c.send("show workers\r\n"));
  const auto workers = c.readUntil("\n\n> ");
  ASSERT_TRUE(workers) << c.pending();
  EXPECT_TRUE(workers->starts_with("slot pid state")) << *workers;
  ASSERT_TRUE(c.send("bogus\n"));
  const auto bogus = c.readUntil("\n\n> ");
  ASSERT_TRUE(bogus) << c.pending();
  EXPECT_TRUE(bogus->starts_with("ERROR unknown command 'bogus'")) << *bogus;
  ASSERT_TRUE(c.send("quit\n"));
  const auto rest = c.readAll(2s);
  EXPECT_TRUE(rest.eof);
  EXPECT_EQ(rest.data, "");
}

TEST(Control, MalformedOversizedAndInterleavedInput) {
  PreforkdProcess p({"--workers", "1"});
  ASSERT_TRUE(p.waitReady());
  // Binary garbage, an empty command, an unknown word: each one ERROR line.
  const auto r = requestAll(p.controlPath(), std::string("\x00\xff\x01\n", 4) + "\n;\nshow\n");
  ASSERT_EQ(r.size(), 4u);
  for (const std::string& e : r) {
    EXPECT_TRUE(e.starts_with("ERROR ")) << e;
    EXPECT_EQ(std::count(e.begin(), e.end(), '\n'), 1) << e;
  }
  // An oversized line: refused and closed, with or without its newline.
  for (const std::string& big : {std::string(5000, 'a') + "\n", std::string(70000, 'b')}) {
    Client c;
    ASSERT_TRUE(c.connectUnix(p.controlPath()));
    ASSERT_TRUE(c.send(big));
    const auto all = c.readAll(3s);
    // Closed with input left unread: a Unix socket reports that as ECONNRESET after the data.
    EXPECT_TRUE(all.eof || all.error == ECONNRESET) << all.error;
    EXPECT_EQ(all.data, "ERROR command longer than 4096 bytes\n\n");
  }
  // Two clients, each sending its command in pieces, interleaved: each gets its own answer.
  Client a, b;
  ASSERT_TRUE(a.connectUnix(p.controlPath()));
  ASSERT_TRUE(b.connectUnix(p.controlPath()));
  ASSERT_TRUE(a.send("show in"));
  ASSERT_TRUE(b.send("show wor"));
  ASSERT_TRUE(a.send("fo"));
  ASSERT_TRUE(b.send("kers\nhel"));
  const auto bw = b.readUntil("\n\n");
  ASSERT_TRUE(bw) << b.pending();
  EXPECT_TRUE(bw->starts_with("slot pid state")) << *bw;
  EXPECT_FALSE(a.readable(100ms)) << "answered a partial command: '" << a.pending() << "'";
  ASSERT_TRUE(a.send("\r\n"));
  ASSERT_TRUE(b.send("p\n"));
  const auto ai = a.readUntil("\n\n");
  ASSERT_TRUE(ai) << a.pending();
  EXPECT_TRUE(ai->starts_with("pid: ")) << *ai;
  const auto bh = b.readUntil("\n\n");
  ASSERT_TRUE(bh) << b.pending();
  EXPECT_TRUE(bh->starts_with("help ")) << *bh;
  EXPECT_TRUE(p.running());
}

TEST(Control, ManyConcurrentClientsAndTheLimit) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  constexpr int kClients = 32;
  std::vector<Client> clients(kClients);
  for (Client& c : clients) ASSERT_TRUE(c.connectUnix(p.controlPath()));
  for (Client& c : clients) ASSERT_TRUE(c.send("show info;show workers\n"));
  for (Client& c : clients) {
    const auto info = c.readUntil("\n\n");
    ASSERT_TRUE(info) << c.pending();
    EXPECT_TRUE(info->starts_with("pid: "));
    const auto workers = c.readUntil("\n\n");
    ASSERT_TRUE(workers) << c.pending();
    EXPECT_TRUE(workers->find("scoreboard: __\n") != std::string::npos) << *workers;
  }
  // Up to the limit (64 connected at once); the next one is told and closed.
  std::vector<Client> more(64 - kClients);
  for (Client& c : more) ASSERT_TRUE(c.connectUnix(p.controlPath()));
  // Make sure all of them were accepted before the extra one connects.
  for (Client& c : more) {
    ASSERT_TRUE(c.send("help\n"));
    ASSERT_TRUE(c.readUntil("\n\n"));
  }
  Client extra;
  ASSERT_TRUE(extra.connectUnix(p.controlPath()));
  const auto refused = extra.readAll(3s);
  EXPECT_EQ(refused.data, "ERROR too many control clients\n\n");
  EXPECT_TRUE(refused.eof);
  EXPECT_TRUE(p.waitForLog(std::regex(R"(refused a client \(limit of 64 reached\))"), 2s))
      << p.log();
  // Closing some makes room again.
  more.clear();
  EXPECT_TRUE(eventually([&] { return p.control("show info").has_value(); }));
}

TEST(Control, AClientThatNeverReadsDoesNotStallTheSupervisor) {
  PreforkdProcess p({"--workers", "2", "--control-idle-timeout", "1s"});
  ASSERT_TRUE(p.waitReady());
  Client greedy;
  ASSERT_TRUE(greedy.connectUnix(p.controlPath()));
  // Thousands of large answers that it will never read (sent without blocking: once the
  // supervisor stops reading, the rest stays here).
  std::string burst;
  for (int i = 0; i < 2000; ++i) burst += "show metrics\n";
  std::size_t sent = 0;
  while (sent < burst.size()) {
    const ssize_t n = ::send(greedy.fd(), burst.data() + sent, burst.size() - sent,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  // Meanwhile everything else works.
  for (int i = 0; i < 5; ++i) {
    const auto t0 = SteadyClock::now();
    const auto info = p.control("show info", 2s);
    ASSERT_TRUE(info) << "the supervisor stopped answering";
    EXPECT_LT(SteadyClock::now() - t0, 1s);
    Banner banner;
    EXPECT_TRUE(serveOne(p.port(), &banner));
  }
  // No progress for the idle time: the supervisor closes it (seen as a hang-up, without
  // reading a byte, which would let it progress).
  pollfd pf{greedy.fd(), POLLRDHUP, 0};
  const int ready = ::poll(&pf, 1, 5000);
  EXPECT_EQ(ready, 1);
  EXPECT_TRUE(pf.revents & (POLLHUP | POLLRDHUP)) << pf.revents;
  EXPECT_TRUE(p.running());
  EXPECT_TRUE(p.control("show info").has_value());
}

// ------------------------------------------------------------------ admin commands

TEST(Control, AdminCommandsAnswerOneLine) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  Banner banner;
  ASSERT_TRUE(serveOne(p.port(), &banner));
  ASSERT_TRUE(p.waitCompleted(1));
  // Every admin command answers one line, "OK ..." or "ERROR ..." (never a permission error
  // for the daemon's own user).
  for (const std::string cmd :
       {"set workers 2", "set policy mru", "worker drain 999999", "worker kill 999999",
        "conn kill 999999", "reopen-logs"}) {
    const auto r = p.control(cmd);
    ASSERT_TRUE(r) << cmd;
    EXPECT_TRUE(r->starts_with("OK ") || r->starts_with("ERROR ")) << cmd << ": " << *r;
    EXPECT_EQ(r->find("permission denied"), std::string::npos) << cmd << ": " << *r;
    EXPECT_EQ(std::count(r->begin(), r->end(), '\n'), 1) << cmd << ": " << *r;
  }
  EXPECT_EQ(p.control("reopen-logs"), "OK logs reopened\n");  // stderr only: nothing to reopen
  // clear counters resets what `show info` counts.
  EXPECT_EQ(p.infoNumber("conns_accepted"), 1u);
  EXPECT_EQ(p.control("clear counters"), "OK counters cleared\n");
  EXPECT_EQ(p.infoNumber("conns_accepted"), 0u);
  EXPECT_TRUE(p.waitForLog(std::regex("control: 'clear counters' from pid"), 2s)) << p.log();
  // shutdown: answered, then a clean exit.
  EXPECT_EQ(p.control("shutdown graceful"), "OK shutting down (graceful)\n");
  const ExitStatus st = p.waitExit(5s);
  EXPECT_TRUE(st.exitedWith(0)) << st.describe();
}

TEST(Control, ShutdownNowDoesNotWaitForBusyWorkers) {
  PreforkdProcess p({"--workers", "1", "--shutdown-timeout", "30s"});
  ASSERT_TRUE(p.waitReady());
  Client held;
  Banner banner;
  ASSERT_TRUE(holdClient(p.port(), &held, &banner));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return i.at("workers_busy") == "1"; }));
  const auto t0 = SteadyClock::now();
  EXPECT_EQ(p.control("shutdown now"), "OK shutting down (now)\n");
  const ExitStatus st = p.waitExit(10s);
  EXPECT_TRUE(st.exited) << p.log();
  EXPECT_LT(SteadyClock::now() - t0, 10s);
}

// ------------------------------------------------------------------ access and mode

// Runs `request` on the control socket as uid/gid nobody in a forked child (which only makes
// raw system calls: the test process has threads). Returns what it read, or "connect: <errno>".
std::string requestAsNobody(const std::string& path, const std::string& request) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return "pipe failed";
  preforkd::UniqueFd out_r(fds[0]), out_w(fds[1]);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), std::min(path.size() + 1, sizeof addr.sun_path - 1));
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    const int w = out_w.get();
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0) {
      static const char kMsg[] = "setuid failed";
      [[maybe_unused]] auto n = ::write(w, kMsg, sizeof kMsg - 1);
      ::_exit(1);
    }
    const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      char msg[64] = "connect: ";
      const int e = errno;
      msg[9] = static_cast<char>('0' + e / 10);
      msg[10] = static_cast<char>('0' + e % 10);
      [[maybe_unused]] auto n = ::write(w, msg, 11);
      ::_exit(1);
    }
    [[maybe_unused]] auto n = ::send(s, request.data(), request.size(), MSG_NOSIGNAL);
    ::shutdown(s, SHUT_WR);
    char buf[4096];
    for (ssize_t got; (got = ::read(s, buf, sizeof buf)) > 0;) {
      [[maybe_unused]] auto m = ::write(w, buf, static_cast<std::size_t>(got));
    }
    ::_exit(0);
  }
  out_w.reset();
  std::string out;
  char buf[4096];
  pollfd pf{out_r.get(), POLLIN, 0};
  const auto deadline = SteadyClock::now() + 5s;
  while (SteadyClock::now() < deadline && ::poll(&pf, 1, 100) >= 0) {
    if (pf.revents == 0) continue;
    const ssize_t n = ::read(out_r.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::kill(pid, SIGKILL);  // a no-op if it is done
  ::waitpid(pid, nullptr, 0);
  return out;
}

std::string errnoCode(int e) {
  return "connect: " + std::string(1, static_cast<char>('0' + e / 10)) +
         std::string(1, static_cast<char>('0' + e % 10));
}

#define SKIP_UNLESS_ROOT()                                                                   \
  if (::geteuid() != 0) {                                                                    \
    GTEST_SKIP() << "needs root to run a control client as a second uid (nobody); run the " \
                    "e2e suite as root to check access levels";                              \
  }

TEST(ControlAccess, DefaultMode0600KeepsOtherUsersOut) {
  SKIP_UNLESS_ROOT();
  PreforkdProcess p({"--workers", "1"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_EQ(::chmod(p.dir().c_str(), 0711), 0);  // let nobody reach the socket's directory
  struct stat st {};
  ASSERT_EQ(::lstat(p.controlPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(requestAsNobody(p.controlPath(), "show info\n"), errnoCode(EACCES));
}

TEST(ControlAccess, ReadOnlyForOtherUsersAndRefusalsAreLogged) {
  SKIP_UNLESS_ROOT();
  PreforkdProcess p({"--workers", "1", "--control-mode", "0666"});
  ASSERT_TRUE(p.waitReady());
  ASSERT_EQ(::chmod(p.dir().c_str(), 0711), 0);
  struct stat st {};
  ASSERT_EQ(::lstat(p.controlPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0666u);

  const std::string out =
      requestAsNobody(p.controlPath(), "show info;help\nset workers 3\nshutdown now\nreload\n");
  std::vector<std::string> r;
  for (std::size_t at = 0; at < out.size();) {
    const auto end = out.find("\n\n", at);
    if (end == std::string::npos) break;
    r.push_back(out.substr(at, end + 1 - at));
    at = end + 2;
  }
  ASSERT_EQ(r.size(), 5u) << out;
  EXPECT_TRUE(r[0].starts_with("pid: ")) << r[0];
  EXPECT_NE(r[1].find("uid 65534 (read-only)"), std::string::npos) << r[1];
  for (std::size_t i = 2; i < 5; ++i) {
    EXPECT_TRUE(r[i].starts_with("ERROR permission denied: ")) << r[i];
  }
  EXPECT_TRUE(p.running()) << "a read-only peer shut preforkd down";
  std::size_t cursor = 0;
  const auto logged = p.waitForLog(
      std::regex(R"(refused 'set workers 3' from pid (\d+) uid 65534)"), 2s, &cursor);
  ASSERT_TRUE(logged) << p.log();
  EXPECT_GT(std::stoi((*logged)[1]), 0);
  EXPECT_TRUE(p.waitForLog(std::regex("refused 'shutdown now' from pid"), 2s)) << p.log();
  EXPECT_EQ(p.infoNumber("workers_total"), 1u);
}

TEST(ControlAccess, AdminGroupMembersMayRunAdminCommands) {
  SKIP_UNLESS_ROOT();
  const group* g = ::getgrgid(kNogroup);
  if (g == nullptr) GTEST_SKIP() << "no group with gid 65534 here";
  const std::string group_name = g->gr_name;
  PreforkdProcess p({"--workers", "1", "--control-mode", "0660", "--control-group", group_name,
                     "--control-admin-group", group_name});
  ASSERT_TRUE(p.waitReady());
  ASSERT_EQ(::chmod(p.dir().c_str(), 0711), 0);
  struct stat st {};
  ASSERT_EQ(::lstat(p.controlPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, kNogroup);
  const std::string out = requestAsNobody(p.controlPath(), "help\nclear counters\n");
  EXPECT_NE(out.find("uid 65534 (admin)"), std::string::npos) << out;
  EXPECT_NE(out.find("OK counters cleared\n\n"), std::string::npos) << out;
}

TEST(ControlAccess, BadModeAndUnknownGroup) {
  {
    PreforkdProcess p({"--control-mode", "0999"});
    const ExitStatus st = p.waitExit(5s);
    EXPECT_TRUE(st.exitedWith(64)) << st.describe() << p.log();
    EXPECT_NE(p.log().find("--control-mode"), std::string::npos) << p.log();
  }
  {
    PreforkdProcess p({"--control-mode", "0066"});
    EXPECT_TRUE(p.waitExit(5s).exitedWith(64)) << p.log();
  }
  {
    PreforkdProcess p({"--control-admin-group", "no-such-group-preforkd"});
    const ExitStatus st = p.waitExit(5s);
    EXPECT_TRUE(st.exitedWith(71)) << st.describe() << p.log();
    EXPECT_NE(p.log().find("no group named 'no-such-group-preforkd'"), std::string::npos)
        << p.log();
  }
}

// ------------------------------------------------------------------ promtool

TEST(ControlMetrics, PromtoolAcceptsShowMetrics) {
  const std::string promtool = findInPath("promtool");
  if (promtool.empty()) {
    GTEST_SKIP() << "promtool not installed (Debian package prometheus; scripts/install-deps "
                    "--test installs it)";
  }
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  for (int i = 0; i < 3; ++i) {
    Banner banner;
    ASSERT_TRUE(serveOne(p.port(), &banner));
  }
  ASSERT_TRUE(p.waitCompleted(3));
  const auto metrics = p.control("show metrics");
  ASSERT_TRUE(metrics);
  const std::string file = p.dir() + "/metrics.txt";
  std::ofstream(file) << *metrics;
  const CommandResult r = runCommand({"/bin/sh", "-c", promtool + " check metrics < " + file}, 20s);
  ASSERT_FALSE(r.timed_out);
  EXPECT_TRUE(WIFEXITED(r.wait_status) && WEXITSTATUS(r.wait_status) == 0)
      << "promtool says:\n" << r.output << "\nfor:\n" << *metrics;
  EXPECT_EQ(r.output, "") << "promtool lint warnings";
}

}  // namespace
}  // namespace e2e
