// Privileges: who the supervisor and its workers run as.
//
// Contract: main() resolves the configured user and group at start-up (resolveIdentity: a
// clear "user 'x' does not exist"), applies the root policy (checkRootPolicy: workers never
// run as root unless allow_root_workers), lets the Supervisor bind its listeners and create
// its control socket while still privileged, hands the files the daemon must still manage
// over to the user (handOverFile: the control socket, so the unprivileged supervisor can still
// remove it at exit; the log file, so it can still append after a reopen), and then drops
// for good with dropPrivileges(): supplementary groups (initgroups), gid, uid, in that order,
// then verifies that root cannot be regained. Workers are forked afterwards, so they inherit
// the unprivileged identity. -t/--check-config runs resolveIdentity and checkRootPolicy too.
// Nothing here logs; every failure is returned as text.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace preforkd {

struct Identity {
  std::string user;        // name, for initgroups and messages
  uid_t uid = 0;
  gid_t gid = 0;           // the configured group, or the user's primary group
  std::string group;       // its name (or number when it has none)
};

// Looks up `user` (a name, or a number of an existing account) and `group` (empty: the
// user's primary group). A group without a user is an error (it would drop nothing).
std::optional<Identity> resolveIdentity(const std::string& user, const std::string& group,
                                        std::string* error);

// "" when starting with (euid, egid) and switching to `target` (nothing: no user configured)
// is allowed, otherwise why not:
//  - root without a user, or a user that is root: refused unless allow_root_workers;
//  - not root and a user other than ourselves: cannot switch.
std::string checkRootPolicy(uid_t euid, gid_t egid, const std::optional<Identity>& target,
                            bool allow_root_workers);

// True when the process must call dropPrivileges() for `target` (it runs as someone else).
bool needsDrop(const Identity& target);

// chown(path, uid, gid) unless path is empty; "" or why it failed.
std::string handOverFile(const std::string& path, const Identity& target);

// setgroups (initgroups), setgid, setuid; then checks getuid/geteuid/getgid/getegid and that
// setuid(0) now fails. "" or why it failed (the caller must exit: the state is unknown).
std::string dropPrivileges(const Identity& target);

}  // namespace preforkd
