#include "ctl/top_view.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "ctl/text_table.h"

namespace preforkd::ctl {
namespace {

using Json = nlohmann::ordered_json;

std::uint64_t num(const Json& j, const char* key) {
  if (!j.is_object()) return 0;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<std::uint64_t>() : 0;
}
double real(const Json& j, const char* key) {
  if (!j.is_object()) return 0;
  const auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : 0.0;
}
std::string str(const Json& j, const char* key) {
  if (!j.is_object()) return "";
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}
const Json& sub(const Json& j, const char* key) {
  static const Json empty = Json::object();
  if (!j.is_object()) return empty;
  const auto it = j.find(key);
  return it != j.end() ? *it : empty;
}

std::uint64_t rejected(const Json& info) {
  const Json& r = sub(sub(info, "connections"), "rejected");
  return num(r, "queue_full") + num(r, "queue_timeout") + num(r, "per_source");
}

std::string duration(double seconds) {
  const auto s = static_cast<std::uint64_t>(seconds);
  if (s >= 86400) return fmt::format("{}d{:02}:{:02}:{:02}", s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
  return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

std::string cell(const Json& j, const char* key, const char* format = "{}") {
  if (!j.is_object()) return "-";
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return "-";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_float()) return fmt::format(fmt::runtime(format), it->get<double>());
  return it->dump();
}

}  // namespace

std::string renderTopFrame(const TopSample& cur, const TopSample* prev, int width, int height,
                           double interval_s) {
  width = std::max(width, 20);
  height = std::max(height, 8);
  std::vector<std::string> lines;
  const Json& info = cur.info;
  const Json& conns = sub(info, "connections");
  const Json& w = sub(info, "workers");
  const Json& pool = sub(info, "pool");
  const Json& queue = sub(info, "queue");

  std::string head = fmt::format("preforkd {}  pid {}  up {}  generation {}  {}", str(info, "version"),
                                 num(info, "pid"), duration(real(info, "uptime_s")),
                                 num(info, "generation"), str(info, "state"));
  if (info.value("throttled", false)) head += "  THROTTLED " + str(info, "throttle_reason");
  if (info.value("halted", false)) head += "  HALTED";
  lines.push_back(head);
  lines.push_back(fmt::format("pool {}/{}  workers {}: {} idle, {} busy, {} starting, {} stopping",
                              str(pool, "mode"), str(pool, "policy"), num(w, "total"),
                              num(w, "idle"), num(w, "busy"), num(w, "starting"),
                              num(w, "stopping")));
  std::string rates = "rates/s  accepted -  completed -  rejected -";
  if (prev != nullptr) {
    const double dt = std::chrono::duration<double>(cur.at - prev->at).count();
    const Json& pc = sub(prev->info, "connections");
    auto rate = [dt](std::uint64_t now, std::uint64_t before) {
      // Counters may have been cleared in between: never show a negative rate.
      return dt > 0 && now >= before ? static_cast<double>(now - before) / dt : 0.0;
    };
    rates = fmt::format("rates/s  accepted {:.1f}  completed {:.1f}  rejected {:.1f}",
                        rate(num(conns, "accepted"), num(pc, "accepted")),
                        rate(num(conns, "completed"), num(pc, "completed")),
                        rate(rejected(info), rejected(prev->info)));
  }
  lines.push_back(rates);
  lines.push_back(fmt::format(
      "totals   accepted {}  completed {}  redispatched {}  rejected {}  queued {} (max {})",
      num(conns, "accepted"), num(conns, "completed"), num(conns, "redispatched"),
      rejected(info), num(queue, "now"), num(queue, "max")));
  std::string listen = "listen  ";
  for (const Json& l : sub(info, "listeners")) {
    listen += fmt::format(" {} queue {}/{}", str(l, "address"), cell(l, "queue_now"),
                          cell(l, "queue_limit"));
  }
  lines.push_back(listen);
  lines.push_back("");
  lines.push_back("scoreboard  (S starting  _ idle  W busy  G stopping)");
  const std::string board = str(cur.workers, "scoreboard");
  for (std::size_t at = 0; at < board.size(); at += static_cast<std::size_t>(width)) {
    lines.push_back(board.substr(at, static_cast<std::size_t>(width)));
  }
  lines.push_back("");

  std::string hist = "latency_us count p50 p90 p99 p99.9 max\n";
  for (const auto& [name, h] : sub(cur.hist, "histograms").items()) {
    hist += fmt::format("{} {} {} {} {} {} {}\n", name, num(h, "count"),
                        cell(h, "p50_us", "{:.0f}"), cell(h, "p90_us", "{:.0f}"),
                        cell(h, "p99_us", "{:.0f}"), cell(h, "p99_9_us", "{:.0f}"),
                        cell(h, "max_us", "{:.0f}"));
  }
  std::string aligned = alignColumns(hist);
  for (std::size_t at = 0; at < aligned.size();) {
    const auto end = aligned.find('\n', at);
    lines.push_back(aligned.substr(at, end - at));
    at = end + 1;
  }
  lines.push_back("");

  std::string table = "slot pid gen state served conn conn_age_s peer\n";
  for (const Json& row : sub(cur.workers, "workers")) {
    table += fmt::format("{} {} {} {} {} {} {} {}\n", cell(row, "slot"), cell(row, "pid"),
                         cell(row, "generation"), cell(row, "state"), cell(row, "served"),
                         cell(row, "conn"), cell(row, "conn_age_s", "{:.1f}"), cell(row, "peer"));
  }
  aligned = alignColumns(table);
  std::vector<std::string> rows;
  for (std::size_t at = 0; at < aligned.size();) {
    const auto end = aligned.find('\n', at);
    rows.push_back(aligned.substr(at, end - at));
    at = end + 1;
  }
  const std::string footer = fmt::format("q quit   refresh every {:g}s", interval_s);
  const std::size_t room = static_cast<std::size_t>(height) - 1;  // the footer's line
  for (std::size_t i = 0; i < rows.size() && lines.size() < room; ++i) {
    if (lines.size() + 1 == room && i + 1 < rows.size()) {
      lines.push_back(fmt::format("... {} more", rows.size() - i));
      break;
    }
    lines.push_back(rows[i]);
  }
  if (lines.size() > room) lines.resize(room);
  lines.push_back(footer);

  std::string out;
  for (std::string& l : lines) {
    if (l.size() > static_cast<std::size_t>(width)) l.resize(static_cast<std::size_t>(width));
    out += l + "\n";
  }
  return out;
}

}  // namespace preforkd::ctl
