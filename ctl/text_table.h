// Human tables for preforkctl: the control socket's space-separated rows, aligned.
//
// Contract: pure. alignColumns() pads every line that has as many fields as the first line
// (the header) so the columns line up (two spaces apart, numbers right-aligned); any other
// line (e.g. "scoreboard: _W_") is copied as it is. Output lines end in "\n".
#pragma once

#include <string>
#include <string_view>

namespace preforkd::ctl {

std::string alignColumns(std::string_view text);

}  // namespace preforkd::ctl
