// The control socket's command language, as a pure function of one command line.
//
// Contract: executeControlCommand() takes one line (without its terminator) and returns the
// response body: lines ending in "\n", none of them empty (the socket adds the empty line that
// ends every response). Errors start with "ERROR ". `snapshot` is called only by commands
// that need it.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "supervisor/stats.h"

namespace preforkd {

std::string executeControlCommand(std::string_view line,
                                  const std::function<StatsSnapshot()>& snapshot);

}  // namespace preforkd
