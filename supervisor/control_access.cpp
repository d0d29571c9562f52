#include "supervisor/control_access.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace preforkd {

const char* toString(AccessLevel level) noexcept {
  return level == AccessLevel::Admin ? "admin" : "read-only";
}

std::optional<ControlPeer> peerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred) {
    return std::nullopt;
  }
  ControlPeer peer;
  peer.pid = cred.pid;
  peer.uid = cred.uid;
  peer.gid = cred.gid;
  return peer;
}

AccessLevel accessLevelFor(uid_t uid, gid_t gid, const AdminRule& rule,
                           const std::function<bool(uid_t, gid_t)>& in_group) {
  if (uid == 0 || uid == rule.daemon_euid) return AccessLevel::Admin;
  if (rule.admin_gid) {
    if (gid == *rule.admin_gid) return AccessLevel::Admin;
    if (in_group && in_group(uid, *rule.admin_gid)) return AccessLevel::Admin;
  }
  return AccessLevel::ReadOnly;
}

bool userInGroup(uid_t uid, gid_t gid) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  passwd pw{};
  passwd* found = nullptr;
  while (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == ERANGE && buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (found == nullptr) return false;
  if (pw.pw_gid == gid) return true;
  // getgrouplist reports how many groups there are when the array is too small.
  std::vector<gid_t> groups(32);
  int n = static_cast<int>(groups.size());
  if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) {
    if (n <= 0 || n > 65536) return false;
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(pw.pw_name, pw.pw_gid, groups.data(), &n) < 0) return false;
  }
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<std::size_t>(i)] == gid) return true;
  }
  return false;
}

std::optional<gid_t> resolveGroup(const std::string& name, std::string* error) {
  long size = ::sysconf(_SC_GETGR_R_SIZE_MAX);
  std::vector<char> buf(size > 0 ? static_cast<std::size_t>(size) : 16384);
  group gr{};
  group* found = nullptr;
  int rc = 0;
  while ((rc = ::getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found)) == ERANGE &&
         buf.size() < (1u << 20)) {
    buf.resize(buf.size() * 2);
  }
  if (found != nullptr) return gr.gr_gid;
  // A number names a gid directly, whether or not the group database lists it.
  gid_t gid = 0;
  const char* end = name.data() + name.size();
  if (!name.empty() && std::from_chars(name.data(), end, gid).ptr == end) return gid;
  *error = rc != 0 ? fmt::format("group '{}': {}", name, std::strerror(rc))
                   : fmt::format("no group named '{}'", name);
  return std::nullopt;
}

}  // namespace preforkd
