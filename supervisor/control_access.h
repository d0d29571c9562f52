// Control access: who is on the other end of a control connection, and what they may do.
//
// Contract: peerCredentials() reads SO_PEERCRED (the peer's pid, uid and gid when it
// connected: the kernel vouches for them, the peer cannot lie). accessLevelFor() is pure: a
// peer is Admin if its uid is 0 or the daemon's effective uid, or if it belongs to the
// configured admin group (its gid from SO_PEERCRED, or membership decided by `in_group`);
// every other peer that could connect is ReadOnly. userInGroup() asks the user database
// (getpwuid_r + getgrouplist) and resolveGroup() turns a group name or number into a gid;
// both may block on NSS, so they run at start-up and once per accepted control client, never
// per command.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

namespace preforkd {

enum class AccessLevel { ReadOnly, Admin };

const char* toString(AccessLevel level) noexcept;  // "read-only", "admin"

struct ControlPeer {
  pid_t pid = 0;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  AccessLevel level = AccessLevel::ReadOnly;
};

struct AdminRule {
  uid_t daemon_euid = 0;
  std::optional<gid_t> admin_gid;  // members of this group are admins too
};

// nullopt if getsockopt(SO_PEERCRED) fails (then the peer gets nothing).
std::optional<ControlPeer> peerCredentials(int fd);

AccessLevel accessLevelFor(uid_t uid, gid_t gid, const AdminRule& rule,
                           const std::function<bool(uid_t, gid_t)>& in_group);

// True if user `uid` has `gid` as its primary or a supplementary group (false for a uid the
// user database does not know).
bool userInGroup(uid_t uid, gid_t gid);

// A group name, or a decimal gid, to a gid; nullopt and *error set if there is no such group.
std::optional<gid_t> resolveGroup(const std::string& name, std::string* error);

}  // namespace preforkd
