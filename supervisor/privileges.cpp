#include "supervisor/privileges.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace preforkd {
namespace {

std::optional<std::uint32_t> number(const std::string& s) {
  std::uint32_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// getpwnam_r/getgrnam_r with a buffer that grows on ERANGE.
template <class Entry, class Lookup>
bool lookup(Lookup fn, Entry* entry, std::vector<char>* buf, int* err) {
  buf->resize(1024);
  for (;;) {
    Entry* result = nullptr;
    *err = fn(entry, buf->data(), buf->size(), &result);
    if (*err == ERANGE && buf->size() < (1u << 20)) {
      buf->resize(buf->size() * 4);
      continue;
    }
    return *err == 0 && result != nullptr;
  }
}

}  // namespace

std::optional<Identity> resolveIdentity(const std::string& user, const std::string& group,
                                        std::string* error) {
  if (user.empty()) {
    *error = group.empty() ? "no user given" : fmt::format("group '{}' needs a user as well", group);
    return std::nullopt;
  }
  passwd pw{};
  std::vector<char> pw_buf;
  int err = 0;
  const auto uid = number(user);
  const bool found = uid ? lookup<passwd>([&](passwd* e, char* b, std::size_t n, passwd** r) {
                             return ::getpwuid_r(*uid, e, b, n, r);
                           }, &pw, &pw_buf, &err)
                         : lookup<passwd>([&](passwd* e, char* b, std::size_t n, passwd** r) {
                             return ::getpwnam_r(user.c_str(), e, b, n, r);
                           }, &pw, &pw_buf, &err);
  if (!found) {
    *error = err == 0 ? fmt::format("user '{}' does not exist", user)
                      : fmt::format("cannot look up user '{}': {}", user, std::strerror(err));
    return std::nullopt;
  }
  Identity id;
  id.user = pw.pw_name;
  id.uid = pw.pw_uid;
  id.gid = pw.pw_gid;
  ::group gr{};
  std::vector<char> gr_buf;
  if (group.empty()) {
    id.group = lookup<::group>([&](::group* e, char* b, std::size_t n, ::group** r) {
                 return ::getgrgid_r(id.gid, e, b, n, r);
               }, &gr, &gr_buf, &err)
                   ? gr.gr_name
                   : std::to_string(id.gid);
    return id;
  }
  const auto gid = number(group);
  const bool group_found = gid ? lookup<::group>([&](::group* e, char* b, std::size_t n, ::group** r) {
                                   return ::getgrgid_r(*gid, e, b, n, r);
                                 }, &gr, &gr_buf, &err)
                               : lookup<::group>([&](::group* e, char* b, std::size_t n, ::group** r) {
                                   return ::getgrnam_r(group.c_str(), e, b, n, r);
                                 }, &gr, &gr_buf, &err);
  if (!group_found) {
    *error = err == 0 ? fmt::format("group '{}' does not exist", group)
                      : fmt::format("cannot look up group '{}': {}", group, std::strerror(err));
    return std::nullopt;
  }
  id.gid = gr.gr_gid;
  id.group = gr.gr_name;
  return id;
}

std::string checkRootPolicy(uid_t euid, gid_t egid, const std::optional<Identity>& target,
                            bool allow_root_workers) {
  if (euid == 0) {
    if (!target && !allow_root_workers) {
      return "started as root without a user: workers would run as root. Set [process] user "
             "(or --user) to an unprivileged account, or allow it explicitly with "
             "[process] allow_root_workers = true (--allow-root-workers)";
    }
    if (target && target->uid == 0 && !allow_root_workers) {
      return fmt::format("user '{}' is root: workers would run as root. Choose an unprivileged "
                         "user, or allow it with [process] allow_root_workers = true "
                         "(--allow-root-workers)",
                         target->user);
    }
    return {};
  }
  if (target && (target->uid != euid || target->gid != egid)) {
    return fmt::format("cannot switch to user '{}' (group '{}'): preforkd is not running as root",
                       target->user, target->group);
  }
  return {};
}

bool needsDrop(const Identity& target) {
  return ::geteuid() != target.uid || ::getuid() != target.uid || ::getegid() != target.gid ||
         ::getgid() != target.gid;
}

std::string handOverFile(const std::string& path, const Identity& target) {
  if (path.empty()) return {};
  if (::chown(path.c_str(), target.uid, target.gid) != 0) {
    return fmt::format("cannot hand {} over to user '{}': {}", path, target.user, std::strerror(errno));
  }
  return {};
}

std::string dropPrivileges(const Identity& target) {
  // Groups first: once the uid is gone, setgroups and setgid are no longer allowed.
  if (::initgroups(target.user.c_str(), target.gid) != 0) {
    return fmt::format("initgroups({}): {}", target.user, std::strerror(errno));
  }
  if (::setgid(target.gid) != 0) return fmt::format("setgid({}): {}", target.gid, std::strerror(errno));
  if (::setuid(target.uid) != 0) return fmt::format("setuid({}): {}", target.uid, std::strerror(errno));
  if (::getuid() != target.uid || ::geteuid() != target.uid || ::getgid() != target.gid ||
      ::getegid() != target.gid) {
    return fmt::format("after the switch to {}:{} the process runs as uid {}/{} gid {}/{}",
                       target.uid, target.gid, ::getuid(), ::geteuid(), ::getgid(), ::getegid());
  }
  if (target.uid != 0 && ::setuid(0) == 0) {
    return "root could be regained after dropping privileges";
  }
  return {};
}

}  // namespace preforkd
