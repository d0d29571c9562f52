#include "ctl/text_table.h"

#include <algorithm>
#include <vector>

namespace preforkd::ctl {
namespace {

std::vector<std::string_view> splitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

bool numeric(std::string_view f) {
  return !f.empty() && std::all_of(f.begin(), f.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.';
  });
}

}  // namespace

std::string alignColumns(std::string_view text) {
  const auto lines = splitLines(text);
  if (lines.empty()) return "";
  const std::size_t columns = fields(lines[0]).size();
  std::vector<std::size_t> width(columns, 0);
  std::vector<bool> right(columns, false);
  std::vector<std::vector<std::string_view>> rows;
  for (std::string_view line : lines) {
    rows.push_back(fields(line));
    if (rows.back().size() != columns) continue;
    for (std::size_t c = 0; c < columns; ++c) width[c] = std::max(width[c], rows.back()[c].size());
  }
  // A column is right-aligned when every data row holds a number there ("-" counts too).
  for (std::size_t c = 0; c < columns; ++c) {
    bool all = rows.size() > 1;
    for (std::size_t r = 1; r < rows.size(); ++r) {
      if (rows[r].size() != columns) continue;
      if (!numeric(rows[r][c]) && rows[r][c] != "-") all = false;
    }
    right[c] = all;
  }
  std::string out;
  for (std::size_t r = 0; r < lines.size(); ++r) {
    if (rows[r].size() != columns || columns == 0) {
      out.append(lines[r]);
      out += '\n';
      continue;
    }
    std::string line;
    for (std::size_t c = 0; c < columns; ++c) {
      const std::string_view f = rows[r][c];
      const std::string pad(width[c] - f.size(), ' ');
      if (c > 0) line += "  ";
      if (right[c]) {
        line += pad;
        line += f;
      } else {
        line += f;
        if (c + 1 < columns) line += pad;
      }
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace preforkd::ctl
