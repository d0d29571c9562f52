// Reliability scenario 7, security review: what a worker can reach and who it runs as.
//
//  - Hygiene.*: a worker holds stdio, its channel and, while busy, its client: nothing else;
//    the supervisor's descriptors return to their baseline after 1000 connections, and
//    during a session once the worker has taken its client.
//  - Security.EachForkedWorkerSharesOnlyItsOwnTakenSlot: the one page a forked worker shares
//    with the supervisor is its own.
//  - Security.NoSupervisorDescriptorIn*: no descriptor of the supervisor other than stdio is
//    open in any worker, compared by device and inode, with the listener, the control socket
//    and the log file located independently (/proc/net/tcp, /proc/net/unix, stat) to prove
//    the comparison sees them: for forked workers (idle and busy), exec'd workers
//    (--worker-exec), the workers of a reloaded generation and those of a hot upgrade's new
//    supervisor. The log file is every worker's stderr by design (fd 2: forked and exec'd
//    workers append their lines to it, docs/operations.md) and must appear on no other fd.
//  - Security.WorkersNeverRunAsRootWithAUser: with --user, exec'd workers and a reloaded
//    generation run with the user's ids on all four of real/effective/saved/filesystem, no
//    supplementary groups but the user's, and no capabilities.
// Elsewhere (not repeated here): the control socket's mode, group and ownership and the
// SO_PEERCRED access levels (tests/e2e/control_e2e_test.cpp ControlAccess.*), the privilege
// drop of the supervisor and forked workers (tests/e2e/privileges_e2e_test.cpp Privileges.*),
// and the fixture checks at the end of every reliability test that no worker shares a
// descriptor with the supervisor or another worker.
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "tests/reliability/reliability_fixture.h"

namespace e2e {
namespace {

class Hygiene : public ReliabilityTest {};
class Security : public ReliabilityTest {};

bool sameFds(const std::vector<FdEntry>& a, const std::vector<FdEntry>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const FdEntry& x, const FdEntry& y) {
    return x.fd == y.fd && x.target == y.target;
  });
}

// "socket:[INODE]" of the TCP socket listening on 127.0.0.1:port (/proc/net/tcp), or "".
std::string listenerSocket(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char want[32];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
    if (!(f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode)) continue;
    if (local == want && state == "0A") return "socket:[" + inode + "]";
  }
  return {};
}

// "socket:[INODE]" of the Unix socket listening at `path` (/proc/net/unix), or "".
std::string unixListener(const std::string& path) {
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string num, refs, proto, flags, type, state, inode, name;
    if (!(f >> num >> refs >> proto >> flags >> type >> state >> inode >> name)) continue;
    if (name == path && flags == "00010000") return "socket:[" + inode + "]";  // __SO_ACCEPTCON
  }
  return {};
}

bool holds(pid_t pid, const std::string& target) {
  const auto fds = fdTargets(pid);
  return std::any_of(fds.begin(), fds.end(), [&](const FdEntry& e) { return e.target == target; });
}

// What a worker may reach, checked against the supervisor `supervisor` (listening on `port`,
// control socket `control`, log file `log_file` or ""). `when` names the moment.
void expectWorkersIsolated(pid_t supervisor, int port, const std::string& control,
                           const std::string& log_file, const std::vector<pid_t>& workers,
                           const std::string& when) {
  SCOPED_TRACE(when);
  ASSERT_FALSE(workers.empty());
  const std::string listener = listenerSocket(port);
  // A hot upgrade's successor bound PATH.upgrade and renamed it: the kernel keeps the name.
  std::string control_socket = unixListener(control);
  if (control_socket.empty()) control_socket = unixListener(control + ".upgrade");
  ASSERT_FALSE(listener.empty()) << "no listener on port " << port << " in /proc/net/tcp";
  ASSERT_FALSE(control_socket.empty()) << "no " << control << " in /proc/net/unix";
  // The landmarks are the supervisor's: the comparison below does see them.
  EXPECT_TRUE(holds(supervisor, listener)) << describeFds(fdTargets(supervisor));
  EXPECT_TRUE(holds(supervisor, control_socket)) << describeFds(fdTargets(supervisor));
  struct stat log_st {};
  if (!log_file.empty()) {
    ASSERT_EQ(::stat(log_file.c_str(), &log_st), 0);
  }
  for (pid_t w : workers) {
    for (const FdIdentity& f : fdIdentities(w)) {
      EXPECT_NE(f.target, listener) << "worker " << w << " fd " << f.fd << " is the listener";
      EXPECT_NE(f.target, control_socket) << "worker " << w << " fd " << f.fd << " is the control socket";
      if (!log_file.empty() && f.dev == log_st.st_dev && f.ino == log_st.st_ino) {
        EXPECT_EQ(f.fd, 2) << "worker " << w << " holds the log file on fd " << f.fd;
      }
    }
    // And its channel is its own, on fd 3.
    const auto fds = fdTargets(w);
    EXPECT_TRUE(fds.size() >= 4 && fds[3].fd == 3 && fds[3].target.starts_with("socket:"))
        << "worker " << w << ":\n" << describeFds(fds);
  }
  // Everything else, by device and inode; a hand-off in flight shares a client socket until
  // the worker's Taken has been read.
  testing::AssertionResult shared = testing::AssertionSuccess();
  eventually([&] {
    shared = workersShareNoDescriptor(supervisor, workers);
    return static_cast<bool>(shared);
  }, 3s);
  EXPECT_TRUE(shared);
}

std::vector<std::string> withTestWorker(std::vector<std::string> args) {
  args.insert(args.end(), {"--worker-exec", PREFORKD_TEST_WORKER_BINARY, "echo"});
  return args;
}

// ---------------------------------------------------------------- hygiene

// Workers hold stdio and their channel only; a busy one holds exactly one socket more.
TEST_F(Hygiene, WorkersHoldOnlyStdioTheirChannelAndTheirClient) {
  ASSERT_TRUE(launch({"--workers", "2"}, 2));
  PreforkdProcess& p = sup();
  const std::vector<FdEntry> sup_fds = fdTargets(p.pid());
  ASSERT_GE(sup_fds.size(), 3u);
  const std::vector<pid_t> pids = p.workerPids();
  ASSERT_EQ(pids.size(), 2u);

  std::map<pid_t, std::vector<FdEntry>> idle_fds;
  for (pid_t w : pids) {
    const auto fds = fdTargets(w);
    idle_fds[w] = fds;
    ASSERT_EQ(fds.size(), 4u) << "worker " << w << " fds:\n" << describeFds(fds);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(fds[static_cast<std::size_t>(i)].fd, i);
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(fds[static_cast<std::size_t>(i)].target, sup_fds[static_cast<std::size_t>(i)].target)
          << "worker stdio " << i << " is not the supervisor's";
    }
    EXPECT_TRUE(fds[3].target.starts_with("socket:")) << fds[3].target;
  }

  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(readBanner(c, &b));
  const auto busy = fdTargets(b.pid);
  ASSERT_EQ(busy.size(), 5u) << "busy worker fds:\n" << describeFds(busy);
  EXPECT_TRUE(std::equal(busy.begin(), busy.begin() + 4, idle_fds[b.pid].begin(),
                         idle_fds[b.pid].end(), [](const FdEntry& x, const FdEntry& y) {
                           return x.fd == y.fd && x.target == y.target;
                         }))
      << "busy:\n" << describeFds(busy) << "idle:\n" << describeFds(idle_fds[b.pid]);
  EXPECT_TRUE(busy[4].target.starts_with("socket:")) << busy[4].target;
  EXPECT_NE(busy[4].target, busy[3].target);

  ASSERT_TRUE(c.send("quit\r\n"));
  ASSERT_EQ(c.readLine(), "Goodbye.");
  ASSERT_TRUE(c.readAll(2s).eof);
  EXPECT_TRUE(eventually([&] { return sameFds(fdTargets(b.pid), idle_fds[b.pid]); }, 2s))
      << "after the session:\n" << describeFds(fdTargets(b.pid));
}

// 1000 connections later the supervisor holds exactly the descriptors it started with.
TEST_F(Hygiene, SupervisorDescriptorsReturnToBaselineAfter1000Connections) {
  constexpr int kConnections = 1000;
  ASSERT_TRUE(launch({"--workers", "4"}, 4));
  PreforkdProcess& p = sup();
  const std::vector<FdEntry> baseline_fds = fdTargets(p.pid());  // settled by launch()
  ASSERT_FALSE(baseline_fds.empty());

  for (int i = 0; i < kConnections; ++i) {
    Banner b;
    ASSERT_TRUE(serveOne(p.port(), &b)) << "connection " << i;
  }
  ASSERT_TRUE(p.waitCompleted(kConnections, 10s));
  // The control connection just used may take a moment to be closed on the supervisor's side.
  EXPECT_TRUE(eventually([&] { return sameFds(fdTargets(p.pid()), baseline_fds); }, 5s))
      << "baseline:\n" << describeFds(baseline_fds) << "now:\n" << describeFds(fdTargets(p.pid()));
  for (pid_t w : p.workerPids()) {
    EXPECT_EQ(fdTargets(w).size(), 4u) << "worker " << w << ":\n" << describeFds(fdTargets(w));
  }
  EXPECT_EQ(p.infoNumber("children_spawned"), 4u) << "no worker should have died";
}

// The supervisor drops its copy of a client once the worker has taken it (recorded in the
// worker's taken slot, no message): while the session is still open, the supervisor's
// descriptors are back to their baseline, and the client sees the close at once on quit.
TEST_F(Hygiene, SupervisorDropsItsCopyOfATakenClientDuringTheSession) {
  ASSERT_TRUE(launch({"--workers", "2"}, 2));
  PreforkdProcess& p = sup();
  const std::vector<FdEntry> baseline_fds = fdTargets(p.pid());
  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(readBanner(c, &b));
  // No control command here (it would itself look at the slot): the maintenance tick must.
  EXPECT_TRUE(eventually([&] { return sameFds(fdTargets(p.pid()), baseline_fds); }, 2s))
      << "baseline:\n" << describeFds(baseline_fds) << "during the session:\n"
      << describeFds(fdTargets(p.pid()));
  ASSERT_TRUE(c.send("still here\r\n"));
  ASSERT_EQ(c.readLine(), "still here");
  ASSERT_TRUE(c.send("quit\r\n"));
  ASSERT_EQ(c.readLine(), "Goodbye.");
  const auto rest = c.readAll(2s);
  EXPECT_TRUE(rest.eof);
  EXPECT_EQ(p.infoNumber("bad_status_messages"), 0u);
}

// A session the worker ends while the supervisor has not yet looked at its taken slot (so it
// still holds its copy of the client): the worker sends the FIN itself, the client is not
// kept waiting for the supervisor. The supervisor is stopped (SIGSTOP) right after the banner,
// before its maintenance tick can drop its copy.
TEST_F(Hygiene, AClientSeesTheCloseWhileTheSupervisorStillHoldsItsCopy) {
  ASSERT_TRUE(launch({"--workers", "1"}, 1));
  PreforkdProcess& p = sup();
  Client c;
  Banner b;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(readBanner(c, &b));
  p.signal(SIGSTOP);
  ASSERT_TRUE(c.send("quit\r\n"));
  EXPECT_EQ(c.readLine(), "Goodbye.");
  const auto rest = c.readAll(2s);
  p.signal(SIGCONT);
  EXPECT_TRUE(rest.eof) << "no EOF while the supervisor was stopped";
  ASSERT_TRUE(p.waitCompleted(1, 5s));
}

// Each forked worker shares exactly one page with the supervisor, its own taken slot
// (common/taken_slot.h): no worker can read or forge another's. A dead worker's page is
// unmapped by the supervisor; its replacement gets a fresh one.
TEST_F(Security, EachForkedWorkerSharesOnlyItsOwnTakenSlot) {
  ASSERT_TRUE(launch({"--workers", "3"}, 3));
  PreforkdProcess& p = sup();
  // Shared writable mappings ("rw-s") of a process, by the inode of their memory object.
  const auto sharedPages = [](pid_t pid) {
    std::vector<std::string> inodes;
    std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
    std::string line;
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string range, perms, offset, dev, inode;
      if (f >> range >> perms >> offset >> dev >> inode && perms == "rw-s") inodes.push_back(inode);
    }
    std::sort(inodes.begin(), inodes.end());
    return inodes;
  };
  const auto check = [&](const char* when) {
    const std::vector<pid_t> workers = p.workerPids();
    ASSERT_EQ(workers.size(), 3u) << when;
    const std::vector<std::string> sup_pages = sharedPages(p.pid());
    std::vector<std::string> worker_pages;
    for (pid_t w : workers) {
      const std::vector<std::string> mine = sharedPages(w);
      ASSERT_EQ(mine.size(), 1u) << when << ": worker " << w << " shares " << mine.size() << " pages";
      worker_pages.push_back(mine[0]);
    }
    std::sort(worker_pages.begin(), worker_pages.end());
    EXPECT_EQ(std::adjacent_find(worker_pages.begin(), worker_pages.end()), worker_pages.end())
        << when << ": two workers share a page";
    EXPECT_EQ(sup_pages, worker_pages) << when << ": the supervisor's shared pages are not exactly its workers'";
  };
  check("at start");
  Client busy;
  Banner b;
  ASSERT_TRUE(busy.connect(p.port()));
  ASSERT_TRUE(readBanner(busy, &b));
  ASSERT_EQ(::kill(b.pid, SIGKILL), 0);
  ASSERT_TRUE(busy.readAll(3s).eof);
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "children_spawned") == 4; }, 5s,
                         "a replacement worker"));
  ASSERT_TRUE(p.waitPoolFull(3));
  check("after a worker was killed and replaced");
  EXPECT_EQ(p.infoNumber("conns_lost_in_service"), 1u);
}

// ---------------------------------------------------------------- no descriptor leaks into a worker

// Forked workers, idle and busy, with a log file; then the next generation after a reload.
TEST_F(Security, NoSupervisorDescriptorInAForkedWorker) {
  const std::string log_file = newScratchDir() + "/preforkd.log";
  useLogFile(log_file);
  ASSERT_TRUE(launch({"--workers", "3", "--log-file", log_file}, 3));
  PreforkdProcess& p = sup();
  Client busy;
  Banner b;
  ASSERT_TRUE(busy.connect(port()));
  ASSERT_TRUE(readBanner(busy, &b));
  expectWorkersIsolated(p.pid(), port(), p.controlPath(), log_file, p.workerPids(), "generation 1, one busy");
  ASSERT_TRUE(busy.send("quit\r\n"));
  ASSERT_EQ(busy.readLine(), "Goodbye.");
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "generation") == 2; }, 5s, "generation 2"));
  ASSERT_TRUE(p.waitPoolFull(3));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_old_generation") == 0; }, 5s,
                         "generation 1 gone"));
  expectWorkersIsolated(p.pid(), port(), p.controlPath(), log_file, p.workerPids(), "generation 2");
}

// Exec'd workers: close-on-exec is not what protects them (the spawner closes every fd above 3
// before exec), but exec must not open anything new either.
TEST_F(Security, NoSupervisorDescriptorInAnExecdWorker) {
  const std::string log_file = newScratchDir() + "/preforkd.log";
  useLogFile(log_file);
  ASSERT_TRUE(launch(withTestWorker({"--workers", "3", "--log-file", log_file}), 3));
  PreforkdProcess& p = sup();
  Client busy;
  ASSERT_TRUE(busy.connect(port()));
  ASSERT_TRUE(busy.send("hold\r\n"));
  ASSERT_EQ(busy.readLine(3s), "hold");
  expectWorkersIsolated(p.pid(), port(), p.controlPath(), log_file, p.workerPids(), "exec'd, one busy");
  busy.shutdownWrite();
  ASSERT_TRUE(busy.readAll(3s).eof);
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "generation") == 2; }, 5s, "generation 2"));
  ASSERT_TRUE(p.waitPoolFull(3));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_old_generation") == 0; }, 5s,
                         "generation 1 gone"));
  expectWorkersIsolated(p.pid(), port(), p.controlPath(), log_file, p.workerPids(), "exec'd, generation 2");
}

// After a hot upgrade: the new supervisor's workers hold none of its descriptors, nor any of
// the previous supervisor's (the listeners both held, its channels, its control clients).
TEST_F(Security, NoSupervisorDescriptorAfterAHotUpgrade) {
  ASSERT_TRUE(launch({"--workers", "2", "--log-level", "info"}, 2));
  PreforkdProcess& p = sup();
  const std::vector<FdIdentity> old_fds = fdIdentities(p.pid());
  p.signal(SIGUSR2);
  const auto started = p.waitForLog(std::regex("hot upgrade: started .* as pid (\\d+)"), 5s);
  ASSERT_TRUE(started);
  const pid_t new_pid = std::stoi((*started)[1]);
  ASSERT_TRUE(p.waitForLog(std::regex("hot upgrade: took over from the previous supervisor"), 10s));
  ASSERT_TRUE(p.waitExit(10s).exitedWith(0));
  ASSERT_TRUE(followSupervisor(new_pid, 2));
  const std::vector<pid_t> workers = p.workerPids();
  expectWorkersIsolated(new_pid, p.port(), p.controlPath(), "", workers, "after the hot upgrade");
  for (pid_t w : workers) {
    EXPECT_EQ(parentPid(w), new_pid);
    for (const FdIdentity& f : fdIdentities(w)) {
      if (f.fd <= 2) continue;
      for (const FdIdentity& o : old_fds) {
        if (o.fd > 2 && o.dev == f.dev && o.ino == f.ino) {
          ADD_FAILURE() << "worker " << w << " fd " << f.fd << " is the previous supervisor's fd "
                        << o.fd << " (" << o.target << ")";
        }
      }
    }
  }
}

// ---------------------------------------------------------------- who the workers run as

struct Ids {
  std::vector<unsigned> uid, gid, groups;
  std::string cap_eff, cap_prm;
};

Ids idsOf(pid_t pid) {
  Ids ids;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  auto numbers = [](const std::string& rest) {
    std::vector<unsigned> out;
    std::istringstream values(rest);
    for (unsigned v; values >> v;) out.push_back(v);
    return out;
  };
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("Uid:")) ids.uid = numbers(line.substr(4));
    if (line.starts_with("Gid:")) ids.gid = numbers(line.substr(4));
    if (line.starts_with("Groups:")) ids.groups = numbers(line.substr(7));
    if (line.starts_with("CapEff:")) ids.cap_eff = line.substr(line.find_first_not_of(" \t", 7));
    if (line.starts_with("CapPrm:")) ids.cap_prm = line.substr(line.find_first_not_of(" \t", 7));
  }
  return ids;
}

void expectRunsAs(pid_t pid, unsigned uid, unsigned gid, const std::string& who) {
  const Ids ids = idsOf(pid);
  EXPECT_EQ(ids.uid, std::vector<unsigned>(4, uid)) << who << " (real, effective, saved, fs uid)";
  EXPECT_EQ(ids.gid, std::vector<unsigned>(4, gid)) << who << " (real, effective, saved, fs gid)";
  for (unsigned g : ids.groups) EXPECT_EQ(g, gid) << who << " keeps supplementary group " << g;
  EXPECT_EQ(ids.cap_eff, "0000000000000000") << who << " has effective capabilities";
  EXPECT_EQ(ids.cap_prm, "0000000000000000") << who << " has permitted capabilities";
}

TEST_F(Security, WorkersNeverRunAsRootWithAUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "dropping privileges needs root; this test runs as uid " << ::geteuid();
  const passwd* pw = ::getpwnam("nobody");
  if (pw == nullptr) GTEST_SKIP() << "no user 'nobody' on this machine";
  const unsigned uid = pw->pw_uid, gid = pw->pw_gid;
  // As under systemd, the control socket lives in a runtime directory handed to the user.
  const std::string runtime = newScratchDir();
  ::chmod(runtime.c_str(), 0750);
  const std::string control = runtime + "/preforkd.sock";
  ::setenv("RUNTIME_DIRECTORY", runtime.c_str(), 1);
  const auto launched = launch(withTestWorker({"--workers", "2", "--user", "nobody", "--control-socket", control}), 2);
  ::unsetenv("RUNTIME_DIRECTORY");
  ASSERT_TRUE(launched);
  PreforkdProcess& p = sup();
  // Let a sanitizer report of the unprivileged tree reach its file (the directory is root's).
  ::chmod(p.dir().c_str(), 01777);
  expectRunsAs(p.pid(), uid, gid, "the supervisor");
  for (pid_t w : p.workerPids()) expectRunsAs(w, uid, gid, "exec'd worker " + std::to_string(w));
  p.signal(SIGHUP);
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "generation") == 2; }, 5s, "generation 2"));
  ASSERT_TRUE(p.waitPoolFull(2));
  ASSERT_TRUE(p.waitInfo([](const auto& i) { return infoValue(i, "workers_old_generation") == 0; }, 5s,
                         "generation 1 gone"));
  const auto workers = p.workerPids();
  ASSERT_EQ(workers.size(), 2u);
  for (pid_t w : workers) expectRunsAs(w, uid, gid, "generation 2 worker " + std::to_string(w));
  Client c;
  ASSERT_TRUE(c.connect(p.port()));
  ASSERT_TRUE(c.send("as nobody\r\n"));
  EXPECT_EQ(c.readLine(3s), "as nobody");
}

}  // namespace
}  // namespace e2e
