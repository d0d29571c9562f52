#include "supervisor/toml_text_guard.h"

#include <fmt/format.h>

namespace preforkd {
namespace {

enum class State { Normal, Comment, Basic, Literal, MultiBasic, MultiLiteral };

bool startsWith(std::string_view text, std::size_t at, std::string_view what) {
  return text.substr(at, what.size()) == what;
}

bool asciiSpace(char c) { return c == ' ' || c == '\t'; }

// Moves `pos` over `consumed`.
void advance(TextPosition& pos, std::string_view consumed) {
  for (const char c : consumed) {
    if (c == '\n') {
      ++pos.line;
      pos.column = 1;
    } else {
      ++pos.column;
    }
  }
}

// Length of the UTF-8 sequence at `at` and its code point; 0 if it is not a valid one (the
// parser reports bad UTF-8 itself).
std::size_t decodeUtf8(std::string_view text, std::size_t at, char32_t* cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[at + k]); };
  const unsigned char lead = b(0);
  std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  if (len == 0 || lead >= 0xF8 || at + len > text.size()) return 0;
  char32_t v = lead & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(k) & 0x3F);
  }
  *cp = v;
  return len;
}

}  // namespace

TomlTextCheck checkTomlText(std::string_view text) {
  TomlTextCheck result;
  std::string out;
  bool changed = false;
  State state = State::Normal;
  TextPosition pos;
  std::size_t i = startsWith(text, 0, "\xEF\xBB\xBF") ? 3 : 0;
  out.append(text.substr(0, i));
  while (i < text.size()) {
    const char c = text[i];
    std::size_t len = 1;  // bytes this step consumes
    switch (state) {
      case State::Normal:
        if (static_cast<unsigned char>(c) >= 0x80) {
          result.non_ascii_outside_strings = pos;
          return result;
        }
        if (c == '#') {
          state = State::Comment;
        } else if (startsWith(text, i, "\"\"\"")) {
          state = State::MultiBasic;
          len = 3;
        } else if (c == '"') {
          state = State::Basic;
        } else if (startsWith(text, i, "'''")) {
          state = State::MultiLiteral;
          len = 3;
        } else if (c == '\'') {
          state = State::Literal;
        }
        break;
      case State::Comment:
        if (c == '\n') state = State::Normal;
        break;
      case State::Basic:
        if (c == '\\' && i + 1 < text.size() && text[i + 1] != '\n') {
          len = 2;  // the escaped character cannot end the string
        } else if (c == '"' || c == '\n') {
          state = State::Normal;
        }
        break;
      case State::Literal:
        if (c == '\'' || c == '\n') state = State::Normal;
        break;
      case State::MultiBasic: {
        if (startsWith(text, i, "\"\"\"")) {
          len = 3;
          // Up to two more quotes belong to the string's content ("""a""""" is `a""`).
          while (len < 5 && i + len < text.size() && text[i + len] == '"') ++len;
          state = State::Normal;
          break;
        }
        if (c != '\\') break;
        std::size_t j = i + 1;
        while (j < text.size() && asciiSpace(text[j])) ++j;
        if (j < text.size() && text[j] == '\r') ++j;
        if (j >= text.size() || text[j] != '\n') {
          len = i + 1 < text.size() ? 2 : 1;  // an ordinary escape
          break;
        }
        // A line-ending backslash: the parser trims spaces, tabs and newlines and asks about
        // the first other character. Escape it if it is not ASCII.
        while (j < text.size() && (asciiSpace(text[j]) || text[j] == '\n' || text[j] == '\r')) ++j;
        len = j - i;
        char32_t cp = 0;
        const std::size_t n =
            j < text.size() && static_cast<unsigned char>(text[j]) >= 0x80 ? decodeUtf8(text, j, &cp) : 0;
        if (n > 0) {
          out.append(text.substr(i, len));
          out += cp <= 0xFFFF ? fmt::format("\\u{:04X}", static_cast<std::uint32_t>(cp))
                              : fmt::format("\\U{:08X}", static_cast<std::uint32_t>(cp));
          changed = true;
          advance(pos, text.substr(i, j + n - i));
          i = j + n;
          continue;
        }
        break;
      }
      case State::MultiLiteral:
        if (startsWith(text, i, "'''")) {
          len = 3;
          while (len < 5 && i + len < text.size() && text[i + len] == '\'') ++len;
          state = State::Normal;
        }
        break;
    }
    len = std::min(len, text.size() - i);
    out.append(text.substr(i, len));
    advance(pos, text.substr(i, len));
    i += len;
  }
  if (changed) result.text = std::move(out);
  return result;
}

}  // namespace preforkd
