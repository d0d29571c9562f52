// The default path of the control socket, shared by preforkd (--control-socket) and
// preforkctl (--socket) so that both find the same socket without flags.
//
// Contract: pure apart from reading $RUNTIME_DIRECTORY. Under systemd (RuntimeDirectory=) the
// socket is $RUNTIME_DIRECTORY/preforkd.sock (the first directory when systemd lists several,
// separated by ':'); otherwise preforkd.sock in the current directory.
#pragma once

#include <cstdlib>
#include <string>

namespace preforkd {

inline std::string defaultControlSocketPath() {
  const char* runtime = std::getenv("RUNTIME_DIRECTORY");
  if (runtime != nullptr && *runtime != '\0') {
    std::string dir(runtime);
    dir = dir.substr(0, dir.find(':'));
    return dir + "/preforkd.sock";
  }
  return "preforkd.sock";
}

}  // namespace preforkd
