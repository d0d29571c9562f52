#include "supervisor/cli.h"

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/logging.h"
#include "preforkd/version.h"
#include "supervisor/control_options.h"

namespace preforkd {

CommandLine parseCommandLine(int argc, char** argv) {
  // Everything after --worker-exec is the worker's command line, untouched by our parser.
  std::vector<std::string> worker_exec;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--worker-exec") {
      worker_exec.assign(argv + i + 1, argv + argc);
      argc = i;
      if (worker_exec.empty()) {
        std::cerr << "preforkd: --worker-exec needs a PROGRAM (and its arguments, if any)\n";
        return CommandLine{std::nullopt, kExitUsage};
      }
      break;
    }
  }
  CLI::App app{"preforkd: a descriptor-passing prefork supervisor.\n"
               "The supervisor accepts TCP connections and hands each one to an idle pre-forked "
               "worker over a Unix socket (SCM_RIGHTS).",
               "preforkd"};
  app.set_version_flag("-V,--version", "preforkd " PREFORKD_VERSION);
  app.get_formatter()->column_width(34);

  std::vector<std::string> listen{"127.0.0.1:2323"};
  std::string control_socket = defaultControlSocketPath();
  bool list_services = false;
  WorkerOptionText worker;
  SupervisorConfig config;  // defaults; flags below overwrite
  PoolSettings& pool = config.pool;
  LifecycleSettings& life = config.lifecycle;
  OverloadSettings& over = config.overload;
  std::string pool_mode = toString(pool.mode), policy = toString(pool.policy);
  // Durations are parsed after CLI11 validated them; keep their text here.
  struct DurationFlag {
    const char* name;
    std::chrono::milliseconds* target;
    std::string text;
    bool zero_ok;
    const char* help;
  };
  auto durationText = [](std::chrono::milliseconds d) {
    return d.count() % 1000 == 0 ? fmt::format("{}s", d.count() / 1000)
                                 : fmt::format("{}ms", d.count());
  };
  std::vector<DurationFlag> durations = {
      {"--ondemand-idle-timeout", &pool.ondemand_idle_timeout, "", false,
       "ondemand pool: a child idle this long exits"},
      {"--session-grace", &life.session_grace, "", false,
       "a child busy longer than --max-session plus this is killed (supervisor backstop)"},
      {"--handoff-timeout", &life.handoff_timeout, "", false,
       "a child that does not say Taken this long after a hand-off is killed; the client "
       "goes to another child"},
      {"--startup-timeout", &life.startup_timeout, "", false,
       "a child that does not say Ready this long after fork is killed"},
      {"--kill-grace", &life.kill_grace, "", false, "after SIGTERM to a child, wait this long before SIGKILL"},
      {"--crash-interval", &life.crash_interval, "", false,
       "--crash-limit crash-signal deaths within this long throttle respawning"},
      {"--respawn-backoff-max", &life.respawn_backoff_max, "", false,
       "cap of the exponential respawn back-off"},
      {"--reload-timeout", &life.reload_timeout, "", false,
       "on reload (SIGHUP), old-generation children must finish their clients within this"},
      {"--shutdown-timeout", &life.shutdown_timeout, "", false,
       "on SIGTERM, how long busy workers may finish before they are killed"},
      {"--upgrade-timeout", &life.upgrade_timeout, "", false,
       "on SIGUSR2, how long the new binary has to become ready"},
      {"--queue-timeout", &over.queue_timeout, "", false,
       "a client queued longer than this gets the busy line"},
  };
  for (DurationFlag& d : durations) d.text = durationText(*d.target);

  app.add_option("-l,--listen", listen,
                 "address to accept on, HOST:PORT or [IPV6]:PORT, numeric; repeatable; port 0 "
                 "picks a free port")
      ->default_str("127.0.0.1:2323");
  app.add_option("--control-socket", control_socket,
                 "path of the stats control socket (Unix stream socket); '' disables it")
      ->capture_default_str();
  ControlOptionText control;
  addControlOptions(app, control);
  constexpr std::size_t kMaxChildren = 4096;
  app.add_option("--pool", pool_mode, "pool mode: static, dynamic or ondemand")
      ->check(CLI::IsMember({"static", "dynamic", "ondemand"}))
      ->capture_default_str();
  app.add_option("-w,--workers", pool.workers,
                 "static: number of workers; dynamic: workers started at first")
      ->check(CLI::Range(std::size_t{1}, kMaxChildren))
      ->capture_default_str();
  app.add_option("--min-spare", pool.min_spare, "dynamic: keep at least this many idle workers")
      ->check(CLI::Range(std::size_t{1}, kMaxChildren))
      ->capture_default_str();
  app.add_option("--max-spare", pool.max_spare, "dynamic: retire idle workers above this many")
      ->check(CLI::Range(std::size_t{1}, kMaxChildren))
      ->capture_default_str();
  app.add_option("--max-children", pool.max_children,
                 "dynamic, ondemand: most workers at once")
      ->check(CLI::Range(std::size_t{1}, kMaxChildren))
      ->capture_default_str();
  app.add_option("--max-spawn-rate", pool.max_spawn_rate,
                 "dynamic: most workers started per second (the ramp 1, 2, 4... stops here)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1024}))
      ->capture_default_str();
  app.add_option("--policy", policy,
                 "which idle worker gets a connection: lru, mru, round-robin, least-served")
      ->check(CLI::IsMember({"lru", "mru", "round-robin", "least-served"}))
      ->capture_default_str();
  app.add_option("--max-connections-per-child", life.max_connections_per_child,
                 "recycle a worker after this many connections; 0: never")
      ->capture_default_str();
  app.add_option("--recycle-jitter", life.recycle_jitter,
                 "add a random 0..N to each worker's --max-connections-per-child")
      ->capture_default_str();
  app.add_option("--crash-limit", life.crash_limit,
                 "crash-signal deaths within --crash-interval that throttle respawning; 0: off")
      ->capture_default_str();
  app.add_option("--queue", over.queue_size,
                 "queue up to N accepted clients when every worker is busy; 0: leave them in "
                 "the kernel backlog")
      ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20))
      ->capture_default_str();
  app.add_option("--busy-message", over.busy_message,
                 "line sent to a client refused because the queue is full or its wait expired")
      ->capture_default_str();
  app.add_option("--max-per-source", over.max_per_source,
                 "most concurrent connections from one client address; 0: no cap")
      ->capture_default_str();
  app.add_option("--per-source-message", over.per_source_message,
                 "line sent to a client over --max-per-source")
      ->capture_default_str();
  for (DurationFlag& d : durations) {
    app.add_option(d.name, d.text, d.help)
        ->check(d.zero_ok ? durationOrZero() : positiveDuration())
        ->capture_default_str();
  }
  addWorkerOptions(app, worker);
  app.add_flag("--list-services", list_services, "print the built-in services and exit");
  app.footer(
      "  --worker-exec PROGRAM [ARGS...]\n"
      "                              fork AND exec each worker: PROGRAM gets its channel on fd 3\n"
      "                              (docs/protocol.md); takes all remaining arguments, so it\n"
      "                              comes last. build/worker/preforkd-worker runs the built-in\n"
      "                              services this way.");

  CommandLine result;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version arrive here as "successes" (exit code 0).
    const int code = app.exit(e);
    result.exit_status = code == 0 ? kExitOk : kExitUsage;
    return result;
  }

  if (list_services) {
    std::cout << listServices();
    return result;
  }
  for (const std::string& text : listen) {
    std::string error;
    auto addr = parseHostPort(text, &error);
    if (!addr) {
      std::cerr << "preforkd: --listen: " << error << "\n";
      result.exit_status = kExitUsage;
      return result;
    }
    config.listen.push_back(*addr);
  }
  pool.mode = *parsePoolMode(pool_mode);
  pool.policy = *parseDispatchPolicy(policy);
  for (const DurationFlag& d : durations) *d.target = *parseDuration(d.text);
  if (std::string error = validatePoolSettings(pool); !error.empty()) {
    std::cerr << "preforkd: " << error << "\n";
    result.exit_status = kExitUsage;
    return result;
  }
  for (std::string* line : {&over.busy_message, &over.per_source_message}) {
    if (line->find_first_of("\r\n") != std::string::npos) {
      std::cerr << "preforkd: --busy-message and --per-source-message are single lines\n";
      result.exit_status = kExitUsage;
      return result;
    }
  }
  config.worker = applyWorkerOptions(worker);
  config.worker_exec = std::move(worker_exec);
  config.control_socket = control_socket;
  if (std::string error = applyControlOptions(control, &config.control); !error.empty()) {
    std::cerr << "preforkd: " << error << "\n";
    result.exit_status = kExitUsage;
    return result;
  }
  config.log_level = config.worker.log_level;
  result.config = std::move(config);
  return result;
}

}  // namespace preforkd
