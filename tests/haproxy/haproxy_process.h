// HaproxyProcess: a real HAProxy (Debian's /usr/sbin/haproxy) in front of preforkd hosts, for
// the agent-check tests. Never the packaged systemd unit: our own configuration in a temporary
// directory, the process in the foreground (-db), in its own process group, by pid.
//
// Contract:
//  - haproxyBinary() is the executable to run, or "" when HAProxy is not installed (the
//    tests skip then).
//  - The constructor writes haproxy.cfg (one `mode tcp`, `balance leastconn` backend with one
//    agent-checked server per HaproxyServer) and starts HAProxy; it throws std::runtime_error
//    when it cannot. The frontend socket is bound by us to 127.0.0.1:0 and handed over as
//    `bind fd@3`, so the kernel picks the port and nothing can take it in between.
//  - waitReady() waits (bounded) until the admin stats socket answers.
//  - command() is one request on the stats socket; stats() parses `show stat` for the
//    backend's servers; serversState() parses `show servers state`.
//  - stop() (and the destructor) ask for a soft stop (SIGUSR1), then SIGTERM, then SIGKILL
//    the whole group, each bounded, and reap it; the destructor also removes the directory.
//    HAProxy's stdout and stderr go to a file there (log()).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "common/unique_fd.h"
#include "tests/e2e/harness.h"

namespace haproxy {

using e2e::Ms;
using namespace std::chrono_literals;

std::string haproxyBinary();

// HAProxy's stats are read every ~20 ms while polling; a field is a number or a word.
struct ServerStat {
  std::string status;  // "no check", "UP", "DRAIN (agent)", "DOWN", "MAINT", ...
  std::int64_t weight = -1;
  std::int64_t slim = -1;  // maxconn; -1 when unset (unlimited)
  std::int64_t scur = -1, smax = -1, stot = -1, qcur = -1, qmax = -1;
  std::string agent_status;  // the last agent check: "L7OK", "L4CON", "L7TOUT", ... ("" before
                             // the first; HAProxy's "* " prefix for a check under way removed)
  std::map<std::string, std::string> fields;  // every column, by its CSV name
};

// One row of `show servers state` (format 1).
struct ServerState {
  int op_state = -1;     // 0 stopped, 1 starting, 2 running, 3 stopping
  int admin_state = -1;  // bit 0x08: forced drain (what an agent's "drain" sets)
  int uweight = -1;      // the user weight (what an agent's "N%" sets)
  std::map<std::string, std::string> fields;
};

struct HaproxyServer {
  std::string name;
  int port = 0;        // the service port on 127.0.0.1
  int agent_port = 0;  // where this server's agent is asked
};

struct HaproxyOptions {
  Ms agent_inter = 500ms;
  std::string agent_send = "lb1";  // sent on every server line, as docs/scale-out.md asks
  Ms timeout_queue = 10s;
};

class HaproxyProcess {
 public:
  static constexpr const char* kBackend = "preforkd";

  HaproxyProcess(const std::vector<HaproxyServer>& servers, HaproxyOptions options = {});
  ~HaproxyProcess();
  HaproxyProcess(const HaproxyProcess&) = delete;
  HaproxyProcess& operator=(const HaproxyProcess&) = delete;

  testing::AssertionResult waitReady(Ms timeout = 5s);

  int port() const { return port_; }  // the frontend, on 127.0.0.1
  pid_t pid() const { return pid_; }
  const std::string& config() const { return config_; }
  std::string log() const;

  // The response (HAProxy closes after one command), or nothing on error / timeout.
  std::optional<std::string> command(std::string_view cmd, Ms timeout = 2s);
  // `show stat` rows of the backend's servers, by server name, and the backend's own row as
  // "BACKEND" (its queue is where clients wait when every server is at its maxconn); empty on
  // error.
  std::map<std::string, ServerStat> stats();
  // `show servers state <backend>` rows, by server name (empty on error).
  std::map<std::string, ServerState> serversState();

  // Soft stop, then harder; true when it exited within the bounds (false: it had to be
  // killed). Idempotent.
  bool stop();
  bool running();

 private:
  e2e::TempDir dir_;
  std::string config_;
  std::string socket_path_;
  std::string log_path_;
  int port_ = -1;
  pid_t pid_ = -1;
  preforkd::UniqueFd pidfd_;
  bool reaped_ = false;
};

}  // namespace haproxy
