// checkTomlText(): makes a TOML document safe for the parser preforkd builds with, before the
// parser sees it.
//
// Why: the parser (toml++ 3.3, Debian 12) reaches __builtin_unreachable() when it asks whether
// some non-ASCII characters (U+00A1..U+0499 among them: "é") are whitespace, which is
// undefined behaviour in a release build instead of an answer; the supervisor's config fuzzer
// found it. It asks in two places: outside strings (where TOML allows non-ASCII text only in
// comments, so the document is wrong anyway) and at the first character after a line-ending
// backslash in a multi-line basic string (valid TOML: `"""one \` newline `  été"""`).
//
// Contract: pure; scans UTF-8 bytes, tracking basic ("..."), literal ('...') and multi-line
// ("""...""", '''...''') strings, backslash escapes in basic strings, and comments (# to the
// end of the line); a leading byte order mark is skipped. Outside strings and comments, the
// first byte >= 0x80 is reported by its 1-based line and column (in bytes): the caller refuses
// the document. After a line-ending backslash, a non-ASCII character that follows the trimmed
// spaces, tabs and newlines is rewritten as its \uXXXX or \UXXXXXXXX escape (same string
// value); `text` then holds the document to parse. An unterminated single-line string ends at
// its line's end (the parser reports it). Never refuses a valid TOML document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace preforkd {

struct TextPosition {
  std::uint32_t line = 1;
  std::uint32_t column = 1;
  friend bool operator==(const TextPosition&, const TextPosition&) = default;
};

struct TomlTextCheck {
  std::optional<TextPosition> non_ascii_outside_strings;  // set: refuse the document
  std::optional<std::string> text;                        // set: parse this instead
};

TomlTextCheck checkTomlText(std::string_view text);

}  // namespace preforkd
