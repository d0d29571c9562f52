// End-to-end: preforkctl against the real preforkd. Exit statuses (0, 1, 64, 69), human
// tables and JSON, and `preforkctl top` in a real terminal (tmux).
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace e2e {
namespace {

using Json = nlohmann::json;

const std::string kPreforkctl = PREFORKCTL_BINARY;

struct CtlResult {
  int exit_code = -1;  // -1: did not exit normally
  std::string output;  // stdout and stderr, merged
};

CtlResult preforkctl(const std::vector<std::string>& args, Ms timeout = 10s) {
  std::vector<std::string> argv{kPreforkctl};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult r = runCommand(argv, timeout);
  CtlResult out;
  out.output = r.output;
  if (!r.timed_out && WIFEXITED(r.wait_status)) out.exit_code = WEXITSTATUS(r.wait_status);
  return out;
}

testing::AssertionResult holdClient(int port, Client* c) {
  if (auto r = c->connect(port); !r) return r;
  const auto line = c->readLine(3s);
  if (!line || !parseBanner(*line)) {
    return testing::AssertionFailure() << "no banner; got '" << c->pending() << "'";
  }
  return testing::AssertionSuccess();
}

TEST(Preforkctl, ReadCommandsExit0) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  Banner banner;
  ASSERT_TRUE(serveOne(p.port(), &banner));
  ASSERT_TRUE(p.waitCompleted(1));
  const std::string sock = p.controlPath();

  const CtlResult status = preforkctl({"--socket", sock, "status"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("(pid " + std::to_string(p.pid()) + ")"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("scoreboard:  __\n"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("workers:     2 total: 2 idle, 0 busy"), std::string::npos)
      << status.output;
  EXPECT_NE(status.output.find("1 accepted, 1 completed"), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("listen:      " + p.listenAddresses()[0] + " (accept queue 0 of 511)"),
            std::string::npos)
      << status.output;

  const CtlResult info = preforkctl({"--socket", sock, "info"});
  EXPECT_EQ(info.exit_code, 0);
  EXPECT_TRUE(info.output.starts_with("pid: " + std::to_string(p.pid()) + "\n")) << info.output;
  EXPECT_FALSE(info.output.ends_with("\n\n")) << "the framing's empty line is not printed";

  const CtlResult info_json = preforkctl({"info", "--json", "--socket", sock});
  ASSERT_EQ(info_json.exit_code, 0) << info_json.output;
  const Json j = Json::parse(info_json.output);
  EXPECT_EQ(j["pid"], p.pid());
  EXPECT_EQ(j["connections"]["completed"], 1);

  const CtlResult workers = preforkctl({"-s", sock, "workers"});
  EXPECT_EQ(workers.exit_code, 0);
  EXPECT_TRUE(workers.output.starts_with("slot  ")) << workers.output;  // aligned columns
  EXPECT_NE(workers.output.find("\nscoreboard: __\n"), std::string::npos) << workers.output;
  const Json wj = Json::parse(preforkctl({"-s", sock, "workers", "--json"}).output);
  EXPECT_EQ(wj["workers"].size(), 2u);

  const CtlResult conns = preforkctl({"-s", sock, "conns"});
  EXPECT_EQ(conns.exit_code, 0);
  EXPECT_TRUE(conns.output.starts_with("id  peer  child  state  age_s  queue_wait_s\n"))
      << conns.output;
  const CtlResult hist = preforkctl({"-s", sock, "hist"});
  EXPECT_EQ(hist.exit_code, 0);
  EXPECT_TRUE(hist.output.starts_with("histogram ")) << hist.output;
  EXPECT_NE(hist.output.find("\nstartup "), std::string::npos) << hist.output;
  const CtlResult metrics = preforkctl({"-s", sock, "metrics"});
  EXPECT_EQ(metrics.exit_code, 0);
  EXPECT_NE(metrics.output.find("\npreforkd_connections_accepted_total 1\n"), std::string::npos)
      << metrics.output;
  const CtlResult raw = preforkctl({"-s", sock, "send", "show", "workers"});
  EXPECT_EQ(raw.exit_code, 0);
  EXPECT_TRUE(raw.output.starts_with("slot pid state")) << raw.output;
}

TEST(Preforkctl, ReadCommandsWhileEveryWorkerIsBusy) {
  PreforkdProcess p({"--workers", "2"});
  ASSERT_TRUE(p.waitReady());
  Client a, b;
  ASSERT_TRUE(holdClient(p.port(), &a));
  ASSERT_TRUE(holdClient(p.port(), &b));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return i.at("workers_busy") == "2"; }));
  const CtlResult status = preforkctl({"-s", p.controlPath(), "status"}, 5s);
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("scoreboard:  WW\n"), std::string::npos) << status.output;
  const CtlResult conns = preforkctl({"-s", p.controlPath(), "conns"}, 5s);
  EXPECT_EQ(conns.exit_code, 0);
  EXPECT_EQ(std::count(conns.output.begin(), conns.output.end(), '\n'), 3) << conns.output;
  EXPECT_NE(conns.output.find("in-service"), std::string::npos) << conns.output;
}

TEST(Preforkctl, ErrorAnswersExit1) {
  PreforkdProcess p({"--workers", "1"});
  ASSERT_TRUE(p.waitReady());
  const CtlResult bogus = preforkctl({"-s", p.controlPath(), "send", "frobnicate"});
  EXPECT_EQ(bogus.exit_code, 1) << bogus.output;
  EXPECT_EQ(bogus.output, "preforkctl: ERROR unknown command 'frobnicate'; try 'help'\n");
  const CtlResult kill = preforkctl({"-s", p.controlPath(), "kill-worker", "999999"});
  EXPECT_EQ(kill.exit_code, 1) << kill.output;
  EXPECT_TRUE(kill.output.starts_with("preforkctl: ERROR ")) << kill.output;
  // An admin command that works: exit 0 and the OK line.
  const CtlResult clear = preforkctl({"-s", p.controlPath(), "clear-counters"});
  EXPECT_EQ(clear.exit_code, 0) << clear.output;
  EXPECT_EQ(clear.output, "OK counters cleared\n");
  const CtlResult stop = preforkctl({"-s", p.controlPath(), "shutdown"});
  EXPECT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_EQ(stop.output, "OK shutting down (graceful)\n");
  EXPECT_TRUE(p.waitExit(5s).exitedWith(0));
}

TEST(Preforkctl, UnreachableSocketExits69) {
  TempDir d;
  const CtlResult missing = preforkctl({"--socket", d.path() + "/none.sock", "status"});
  EXPECT_EQ(missing.exit_code, 69) << missing.output;
  EXPECT_NE(missing.output.find("no control socket at " + d.path() + "/none.sock"),
            std::string::npos)
      << missing.output;

  // A stale socket file: nothing answers.
  const std::string stale = d.path() + "/stale.sock";
  {
    preforkd::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, stale.c_str(), stale.size() + 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  const CtlResult refused = preforkctl({"--socket", stale, "info"});
  EXPECT_EQ(refused.exit_code, 69) << refused.output;
  EXPECT_NE(refused.output.find("nothing answers on " + stale), std::string::npos)
      << refused.output;

  // A listener that never answers: the bounded wait ends it.
  const std::string silent = d.path() + "/silent.sock";
  preforkd::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, silent.c_str(), silent.size() + 1);
  ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd.get(), 4), 0);
  const auto t0 = SteadyClock::now();
  const CtlResult mute = preforkctl({"--socket", silent, "--timeout", "0.3", "info"});
  EXPECT_EQ(mute.exit_code, 69) << mute.output;
  EXPECT_NE(mute.output.find("no answer"), std::string::npos) << mute.output;
  EXPECT_LT(SteadyClock::now() - t0, 5s);
}

TEST(Preforkctl, UsageErrorsExit64) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{},
                                             {"frobnicate"},
                                             {"set-workers"},
                                             {"set-workers", "0"},
                                             {"set-policy", "fastest"},
                                             {"kill-worker", "abc"},
                                             {"top", "--interval", "0"},
                                             {"--no-such-flag", "status"}}) {
    const CtlResult r = preforkctl(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    EXPECT_EQ(r.exit_code, 64) << joined << "\n" << r.output;
    EXPECT_FALSE(r.output.empty()) << joined;
  }
  const CtlResult help = preforkctl({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* sub : {"status", "workers", "conns", "hist", "metrics", "reload", "set-workers",
                          "set-policy", "drain-worker", "kill-worker", "kill-conn",
                          "clear-counters", "reopen-logs", "shutdown", "top"}) {
    EXPECT_NE(help.output.find(sub), std::string::npos) << sub;
  }
}

TEST(Preforkctl, TopWithoutATerminalPrintsFrames) {
  PreforkdProcess p({"--workers", "3"});
  ASSERT_TRUE(p.waitReady());
  const CtlResult top = preforkctl({"-s", p.controlPath(), "top", "-n", "2", "-i", "0.1"});
  EXPECT_EQ(top.exit_code, 0) << top.output;
  EXPECT_EQ(top.output.find("\x1b["), std::string::npos) << "escape codes without a terminal";
  // Two frames, each with the scoreboard; the second one has rates.
  const auto first = top.output.find("\n___\n");
  ASSERT_NE(first, std::string::npos) << top.output;
  EXPECT_NE(top.output.find("\n___\n", first + 1), std::string::npos) << top.output;
  EXPECT_NE(top.output.find("rates/s  accepted 0.0"), std::string::npos) << top.output;
}

// ------------------------------------------------------------------ top in a terminal

// A private tmux server (its own -L socket name), killed whatever happens.
class Tmux {
 public:
  Tmux() : name_("preforkd-e2e-" + std::to_string(::getpid())) {}
  ~Tmux() { run({"kill-server"}); }
  Tmux(const Tmux&) = delete;
  Tmux& operator=(const Tmux&) = delete;

  CommandResult run(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{tmux_, "-L", name_, "-f", "/dev/null"};
    argv.insert(argv.end(), args.begin(), args.end());
    return runCommand(argv, 5s);
  }
  std::string capture() const { return run({"capture-pane", "-p", "-t", "top"}).output; }
  bool available() const { return !tmux_.empty(); }

 private:
  std::string tmux_ = findInPath("tmux");
  std::string name_;
};

// Runs `preforkctl top` in a tmux pane, checks the screen, sends `key` and expects exit 0.
void topInTmux(const std::string& key) {
  Tmux tmux;
  if (!tmux.available()) {
    GTEST_SKIP() << "tmux not installed (scripts/install-deps --test installs it)";
  }
  PreforkdProcess p({"--workers", "3"});
  ASSERT_TRUE(p.waitReady());
  Client held;
  ASSERT_TRUE(holdClient(p.port(), &held));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return i.at("workers_busy") == "1"; }));

  const std::string done = p.dir() + "/top.exit";
  const std::string command = kPreforkctl + " --socket " + p.controlPath() +
                              " top --interval 0.2; echo $? > " + done + "; sleep 60";
  const CommandResult started =
      tmux.run({"new-session", "-d", "-s", "top", "-x", "110", "-y", "40", command});
  ASSERT_TRUE(WIFEXITED(started.wait_status) && WEXITSTATUS(started.wait_status) == 0)
      << started.output;

  std::string screen;
  ASSERT_TRUE(eventually(
      [&] {
        screen = tmux.capture();
        return screen.find("scoreboard") != std::string::npos &&
               screen.find("rates/s  accepted 0.0") != std::string::npos;
      },
      5s, 50ms))
      << screen;
  // One busy worker (W) and two idle ones, in slot order (which slot the policy picked does
  // not matter); the pid header; the latency table.
  std::smatch board;
  EXPECT_TRUE(std::regex_search(screen, board, std::regex("\n([W_]{3})\n")) &&
              std::count(board[1].first, board[1].second, 'W') == 1)
      << screen;
  EXPECT_NE(screen.find("pid " + std::to_string(p.pid())), std::string::npos) << screen;
  EXPECT_NE(screen.find("latency_us"), std::string::npos) << screen;
  EXPECT_NE(screen.find("workers 3: 2 idle, 1 busy"), std::string::npos) << screen;

  tmux.run({"send-keys", "-t", "top", key});
  std::string code;
  ASSERT_TRUE(eventually(
      [&] {
        std::ifstream in(done);
        return static_cast<bool>(std::getline(in, code)) && !code.empty();
      },
      5s, 50ms))
      << "preforkctl top did not exit on " << key << "; screen:\n" << tmux.capture();
  EXPECT_EQ(code, "0");
  // The terminal is back: the alternate screen is gone, so `top` left nothing behind.
  EXPECT_EQ(tmux.capture().find("scoreboard"), std::string::npos) << tmux.capture();
}

TEST(Preforkctl, TopRendersInARealTerminalAndQuitsOnQ) { topInTmux("q"); }

TEST(Preforkctl, TopQuitsOnCtrlC) { topInTmux("C-c"); }

}  // namespace
}  // namespace e2e
