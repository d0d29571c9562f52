// preforkctl: query and steer a running preforkd through its control socket.
//
// Thin: parse the command line (CLI11), send one control command (docs/control.md), render
// the answer (aligned tables, pretty JSON, or `top`'s live view), map the outcome to an exit
// status: 0 success, 1 preforkd answered ERROR, 64 bad command line, 69 the socket cannot be
// reached or did not answer in time, 70 an answer preforkctl cannot read.
#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/control_socket_path.h"
#include "common/unique_fd.h"
#include "ctl/control_client.h"
#include "ctl/text_table.h"
#include "ctl/top_view.h"
#include "preforkd/version.h"

namespace preforkd::ctl {
namespace {

using Json = nlohmann::ordered_json;
using Ms = std::chrono::milliseconds;

constexpr int kExitOk = 0;
constexpr int kExitErrorAnswer = 1;
constexpr int kExitUsage = 64;
constexpr int kExitUnavailable = 69;
constexpr int kExitSoftware = 70;

struct BadAnswer : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Options {
  std::string socket = defaultControlSocketPath();
  double timeout_s = 5;
  bool timeout_given = false;
};

Ms toMs(double seconds) { return Ms(static_cast<long>(seconds * 1000.0 + 0.5)); }

Json parseJson(const std::string& text) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw BadAnswer(fmt::format("unexpected answer from preforkd ({}): {}", e.what(),
                                text.substr(0, 200)));
  }
}

// Sends `line` and returns its `n` responses, or the exit status to leave with.
struct Answer {
  std::vector<std::string> responses;
  int status = kExitOk;
};

Answer ask(const Options& o, const std::string& line, std::size_t n, Ms timeout) {
  Answer a;
  try {
    ControlClient client = ControlClient::connect(o.socket, timeout);
    a.responses = client.request(line, n, timeout);
  } catch (const Unreachable& e) {
    std::cerr << "preforkctl: " << e.what() << "\n";
    a.status = kExitUnavailable;
    return a;
  }
  for (const std::string& r : a.responses) {
    if (isError(r)) {
      std::cerr << "preforkctl: " << r;
      a.status = kExitErrorAnswer;
      return a;
    }
  }
  return a;
}

int simple(const Options& o, const std::string& command,
           const std::function<std::string(const std::string&)>& render) {
  const Answer a = ask(o, command, 1, toMs(o.timeout_s));
  if (a.status != kExitOk) return a.status;
  std::cout << render(a.responses[0]) << std::flush;
  return kExitOk;
}

std::string asIs(const std::string& r) { return r; }
std::string pretty(const std::string& r) { return parseJson(r).dump(2) + "\n"; }

std::string hms(double seconds) {
  const auto s = static_cast<std::uint64_t>(seconds);
  return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

int status(const Options& o, bool json) {
  const Answer a = ask(o, "show info json;show workers json", 2, toMs(o.timeout_s));
  if (a.status != kExitOk) return a.status;
  const Json info = parseJson(a.responses[0]);
  const Json workers = parseJson(a.responses[1]);
  if (json) {
    std::cout << Json{{"info", info}, {"workers", workers}}.dump(2) << "\n";
    return kExitOk;
  }
  const Json& w = info.at("workers");
  const Json& c = info.at("connections");
  const Json& r = c.at("rejected");
  std::string out = fmt::format(
      "preforkd {} (pid {}), up {}, generation {}, {}{}{}\n", info.at("version").get<std::string>(),
      info.at("pid").get<long>(), hms(info.at("uptime_s").get<double>()),
      info.at("generation").get<std::uint64_t>(), info.at("state").get<std::string>(),
      info.at("throttled").get<bool>() ? ", THROTTLED: " + info.at("throttle_reason").get<std::string>() : "",
      info.at("halted").get<bool>() ? ", HALTED (reload to resume)" : "");
  out += fmt::format("pool:        {}, policy {}\n", info.at("pool").at("mode").get<std::string>(),
                     info.at("pool").at("policy").get<std::string>());
  out += fmt::format("workers:     {} total: {} idle, {} busy, {} starting, {} stopping\n",
                     w.at("total").get<std::uint64_t>(), w.at("idle").get<std::uint64_t>(),
                     w.at("busy").get<std::uint64_t>(), w.at("starting").get<std::uint64_t>(),
                     w.at("stopping").get<std::uint64_t>());
  out += fmt::format("scoreboard:  {}\n", workers.at("scoreboard").get<std::string>());
  out += fmt::format(
      "connections: {} accepted, {} completed, {} queued (max {}), {} rejected\n",
      c.at("accepted").get<std::uint64_t>(), c.at("completed").get<std::uint64_t>(),
      info.at("queue").at("now").get<std::uint64_t>(), info.at("queue").at("max").get<std::uint64_t>(),
      r.at("queue_full").get<std::uint64_t>() + r.at("queue_timeout").get<std::uint64_t>() +
          r.at("per_source").get<std::uint64_t>());
  for (const Json& l : info.at("listeners")) {
    out += fmt::format("listen:      {}", l.at("address").get<std::string>());
    if (!l.at("queue_now").is_null()) {
      out += fmt::format(" (accept queue {} of {})", l.at("queue_now").get<std::uint64_t>(),
                         l.at("queue_limit").get<std::uint64_t>());
    }
    out += "\n";
  }
  std::cout << out;
  return kExitOk;
}

// ------------------------------------------------------------------ top

int g_signal_pipe = -1;
volatile std::sig_atomic_t g_stop = 0;

extern "C" void onTopSignal(int sig) {
  if (sig != SIGWINCH) g_stop = 1;
  const char c = static_cast<char>(sig);
  [[maybe_unused]] auto n = ::write(g_signal_pipe, &c, 1);
}

// Puts the terminal in the state `top` needs and restores it on every way out.
class Terminal {
 public:
  Terminal() : out_tty_(::isatty(STDOUT_FILENO) == 1), in_tty_(::isatty(STDIN_FILENO) == 1) {
    if (in_tty_ && ::tcgetattr(STDIN_FILENO, &saved_) == 0) {
      termios raw = saved_;
      raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
      raw.c_cc[VMIN] = 0;
      raw.c_cc[VTIME] = 0;
      restore_input_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    if (out_tty_) emit("\x1b[?1049h\x1b[?25l");  // alternate screen, hide the cursor
  }
  ~Terminal() {
    if (out_tty_) emit("\x1b[?25h\x1b[?1049l");
    if (restore_input_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  Terminal(const Terminal&) = delete;
  Terminal& operator=(const Terminal&) = delete;

  bool outputIsTty() const { return out_tty_; }
  bool inputIsTty() const { return in_tty_; }
  std::pair<int, int> size() const {
    winsize ws{};
    if (out_tty_ && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
      return {ws.ws_col, ws.ws_row};
    }
    return {100, 60};
  }
  void emit(std::string_view text) const {
    std::size_t at = 0;
    while (at < text.size()) {
      const ssize_t n = ::write(STDOUT_FILENO, text.data() + at, text.size() - at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      at += static_cast<std::size_t>(n);
    }
  }

 private:
  bool out_tty_;
  bool in_tty_;
  termios saved_{};
  bool restore_input_ = false;
};

int top(const Options& o, double interval_s, int iterations) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::cerr << "preforkctl: pipe: " << std::strerror(errno) << "\n";
    return kExitSoftware;
  }
  const UniqueFd sig_read(fds[0]), sig_write(fds[1]);
  g_signal_pipe = sig_write.get();
  struct sigaction sa {};
  sa.sa_handler = &onTopSignal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) ::sigaction(sig, &sa, nullptr);

  std::optional<TopSample> previous;
  std::string failure;
  int result = kExitOk;
  {
    Terminal term;
    for (int frame = 0; !g_stop && (iterations == 0 || frame < iterations); ++frame) {
      const Answer a = [&] {
        // ask() prints its message on stderr, which is the alternate screen: keep it quiet
        // and report after the terminal is restored.
        Answer out;
        try {
          ControlClient client = ControlClient::connect(o.socket, toMs(o.timeout_s));
          out.responses = client.request("show info json;show workers json;show hist json", 3,
                                         toMs(o.timeout_s));
          for (const std::string& r : out.responses) {
            if (isError(r)) {
              failure = r;
              out.status = kExitErrorAnswer;
            }
          }
        } catch (const Unreachable& e) {
          failure = std::string(e.what()) + "\n";
          out.status = kExitUnavailable;
        }
        return out;
      }();
      if (a.status != kExitOk) {
        result = a.status;
        break;
      }
      TopSample cur;
      try {
        cur.info = Json::parse(a.responses[0]);
        cur.workers = Json::parse(a.responses[1]);
        cur.hist = Json::parse(a.responses[2]);
      } catch (const Json::exception& e) {
        failure = fmt::format("unexpected answer from preforkd: {}\n", e.what());
        result = kExitSoftware;
        break;
      }
      cur.at = std::chrono::steady_clock::now();
      const auto [width, height] = term.size();
      const std::string text =
          renderTopFrame(cur, previous ? &*previous : nullptr, width, height, interval_s);
      if (term.outputIsTty()) {
        std::string screen = "\x1b[H";
        for (std::size_t at = 0; at < text.size();) {
          const auto end = text.find('\n', at);
          screen.append(text, at, end - at);
          screen += "\x1b[K\r\n";
          at = end + 1;
        }
        screen.resize(screen.size() - 2);  // no newline after the last line: no scrolling
        screen += "\x1b[J";
        term.emit(screen);
      } else {
        term.emit(text + "\n");
      }
      previous = std::move(cur);
      if (iterations != 0 && frame + 1 >= iterations) break;

      // Wait for the next refresh, a key, or a signal.
      const auto deadline = std::chrono::steady_clock::now() + toMs(interval_s);
      bool redraw = false;
      while (!g_stop && !redraw) {
        const auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        pollfd p[2] = {{sig_read.get(), POLLIN, 0}, {term.inputIsTty() ? STDIN_FILENO : -1, POLLIN, 0}};
        const int n = ::poll(p, 2, static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) break;
        if (p[0].revents & POLLIN) {
          char buf[16];
          while (::read(sig_read.get(), buf, sizeof buf) > 0) {
          }
          redraw = true;  // SIGWINCH: draw at the new size now
        }
        if (p[1].revents & POLLIN) {
          char buf[64];
          const ssize_t got = ::read(STDIN_FILENO, buf, sizeof buf);
          for (ssize_t i = 0; i < got; ++i) {
            if (buf[i] == 'q' || buf[i] == 'Q' || buf[i] == 0x03 || buf[i] == 0x04) g_stop = 1;
          }
        }
      }
    }
  }  // the terminal is restored here
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGWINCH}) ::signal(sig, SIG_DFL);
  if (!failure.empty()) std::cerr << "preforkctl: " << failure;
  return result;
}

int run(int argc, char** argv) {
  CLI::App app{"preforkctl: query and steer a running preforkd through its control socket "
               "(docs/control.md).",
               "preforkctl"};
  app.set_version_flag("-V,--version", "preforkctl " PREFORKD_VERSION);
  app.fallthrough();
  app.require_subcommand(1);
  Options o;
  app.add_option("-s,--socket", o.socket,
                 "the control socket (default: $RUNTIME_DIRECTORY/preforkd.sock, else "
                 "./preforkd.sock, like preforkd)")
      ->capture_default_str();
  CLI::Option* timeout = app.add_option("-t,--timeout", o.timeout_s,
                                        "seconds to wait for preforkd (reload: 130 unless given)")
                             ->check(CLI::PositiveNumber)
                             ->capture_default_str();
  bool json = false;
  auto jsonFlag = [&json](CLI::App* sub) { sub->add_flag("--json", json, "JSON instead of a table"); };

  CLI::App* status_cmd = app.add_subcommand("status", "a short summary of the pool");
  jsonFlag(status_cmd);
  CLI::App* info_cmd = app.add_subcommand("info", "every counter (show info)");
  jsonFlag(info_cmd);
  CLI::App* workers_cmd = app.add_subcommand("workers", "one row per worker and the scoreboard");
  jsonFlag(workers_cmd);
  CLI::App* conns_cmd = app.add_subcommand("conns", "connections queued or in service");
  jsonFlag(conns_cmd);
  CLI::App* hist_cmd = app.add_subcommand("hist", "latency percentiles (microseconds)");
  jsonFlag(hist_cmd);
  CLI::App* metrics_cmd = app.add_subcommand("metrics", "Prometheus text exposition");
  CLI::App* agent_cmd =
      app.add_subcommand("agent", "the HAProxy agent answer, why, and who checks it");
  jsonFlag(agent_cmd);
  CLI::App* host_drain_cmd = app.add_subcommand(
      "drain", "the agent tells balancers to send nothing new; clients are still served (admin)");
  CLI::App* undrain_cmd = app.add_subcommand("undrain", "leave the drain state (admin)");
  CLI::App* reload_cmd =
      app.add_subcommand("reload", "start a new generation; waits until it is ready (admin)");
  std::size_t workers_n = 0;
  CLI::App* set_workers_cmd = app.add_subcommand("set-workers", "resize the pool (admin)");
  set_workers_cmd->add_option("N", workers_n, "number of workers")->required()->check(
      CLI::Range(std::size_t{1}, std::size_t{4096}));
  std::string policy;
  CLI::App* set_policy_cmd = app.add_subcommand("set-policy", "change the dispatch policy (admin)");
  set_policy_cmd->add_option("POLICY", policy, "lru, mru, round-robin or least-served")
      ->required()
      ->check(CLI::IsMember({"lru", "mru", "round-robin", "least-served"}));
  long pid = 0;
  CLI::App* drain_cmd = app.add_subcommand("drain-worker", "a worker exits after its client (admin)");
  drain_cmd->add_option("PID", pid, "the worker's pid")->required()->check(CLI::PositiveNumber);
  CLI::App* kill_cmd = app.add_subcommand("kill-worker", "SIGTERM a worker now (admin)");
  kill_cmd->add_option("PID", pid, "the worker's pid")->required()->check(CLI::PositiveNumber);
  std::uint64_t conn_id = 0;
  CLI::App* kill_conn_cmd = app.add_subcommand("kill-conn", "close a connection (admin)");
  kill_conn_cmd->add_option("ID", conn_id, "the connection id (preforkctl conns)")
      ->required()
      ->check(CLI::PositiveNumber);
  CLI::App* clear_cmd = app.add_subcommand("clear-counters", "reset counters and histograms (admin)");
  CLI::App* reopen_cmd = app.add_subcommand("reopen-logs", "reopen log files (admin)");
  bool now = false;
  CLI::App* shutdown_cmd = app.add_subcommand("shutdown", "stop preforkd (admin)");
  shutdown_cmd->add_flag("--now", now, "do not wait for busy workers");
  double interval_s = 1.0;
  int iterations = 0;
  CLI::App* top_cmd = app.add_subcommand("top", "a live view of the pool; q or Ctrl-C quits");
  top_cmd->add_option("-i,--interval", interval_s, "seconds between refreshes")
      ->check(CLI::Range(0.1, 3600.0))
      ->capture_default_str();
  top_cmd->add_option("-n,--iterations", iterations, "stop after N frames (0: until q)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  std::vector<std::string> raw;
  CLI::App* send_cmd = app.add_subcommand("send", "send any control command and print the answer");
  send_cmd->add_option("COMMAND", raw, "the command words, e.g. show workers")->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  o.timeout_given = timeout->count() > 0;

  try {
    auto table = [&](const char* command) {
      return json ? simple(o, std::string(command) + " json", &pretty)
                  : simple(o, command, [](const std::string& r) { return alignColumns(r); });
    };
    if (status_cmd->parsed()) return status(o, json);
    if (info_cmd->parsed()) return json ? simple(o, "show info json", &pretty) : simple(o, "show info", &asIs);
    if (workers_cmd->parsed()) return table("show workers");
    if (conns_cmd->parsed()) return table("show conns");
    if (hist_cmd->parsed()) return table("show hist");
    if (metrics_cmd->parsed()) return simple(o, "show metrics", &asIs);
    if (agent_cmd->parsed()) return json ? simple(o, "show agent json", &pretty) : simple(o, "show agent", &asIs);
    if (host_drain_cmd->parsed()) return simple(o, "drain", &asIs);
    if (undrain_cmd->parsed()) return simple(o, "undrain", &asIs);
    if (reload_cmd->parsed()) {
      Options r = o;
      if (!o.timeout_given) r.timeout_s = 130;  // past preforkd's default reload drain deadline
      return simple(r, "reload", &asIs);
    }
    if (set_workers_cmd->parsed()) return simple(o, fmt::format("set workers {}", workers_n), &asIs);
    if (set_policy_cmd->parsed()) return simple(o, "set policy " + policy, &asIs);
    if (drain_cmd->parsed()) return simple(o, fmt::format("worker drain {}", pid), &asIs);
    if (kill_cmd->parsed()) return simple(o, fmt::format("worker kill {}", pid), &asIs);
    if (kill_conn_cmd->parsed()) return simple(o, fmt::format("conn kill {}", conn_id), &asIs);
    if (clear_cmd->parsed()) return simple(o, "clear counters", &asIs);
    if (reopen_cmd->parsed()) return simple(o, "reopen-logs", &asIs);
    if (shutdown_cmd->parsed()) return simple(o, now ? "shutdown now" : "shutdown graceful", &asIs);
    if (top_cmd->parsed()) return top(o, interval_s, iterations);
    if (send_cmd->parsed()) {
      std::string line;
      for (const std::string& w : raw) line += (line.empty() ? "" : " ") + w;
      return simple(o, line, &asIs);
    }
  } catch (const BadAnswer& e) {
    std::cerr << "preforkctl: " << e.what() << "\n";
    return kExitSoftware;
  } catch (const std::exception& e) {
    std::cerr << "preforkctl: unexpected answer from preforkd: " << e.what() << "\n";
    return kExitSoftware;
  }
  return kExitUsage;
}

}  // namespace
}  // namespace preforkd::ctl

int main(int argc, char** argv) { return preforkd::ctl::run(argc, argv); }
