// preforkctl's pure pieces: table alignment and one frame of `top`.
#include <gtest/gtest.h>

#include "ctl/text_table.h"
#include "ctl/top_view.h"
#include "supervisor/stats_json.h"
#include "tests/unit/stats_sample.h"

namespace preforkd {
namespace {

TEST(PreforkctlTable, AlignsRowsWithTheHeadersFieldCount) {
  EXPECT_EQ(ctl::alignColumns("slot pid state\n"
                              "0 1000 idle\n"
                              "12 7 busy\n"
                              "scoreboard: _W\n"),
            "slot   pid  state\n"
            "   0  1000  idle\n"
            "  12     7  busy\n"
            "scoreboard: _W\n");
  EXPECT_EQ(ctl::alignColumns("id peer\n"), "id  peer\n");
  EXPECT_EQ(ctl::alignColumns(""), "");
  // "-" counts as a number for alignment; a word makes the column left-aligned.
  EXPECT_EQ(ctl::alignColumns("a b\n- x\n10 yy\n"), " a  b\n -  x\n10  yy\n");
}

TEST(PreforkctlTop, FrameShowsScoreboardRatesAndPercentiles) {
  StatsSnapshot s = testing_sample::sample();
  ctl::TopSample prev;
  prev.info = nlohmann::ordered_json::parse(renderJsonLine(infoJson(s)));
  prev.workers = nlohmann::ordered_json::parse(renderJsonLine(workersJson(s)));
  prev.hist = nlohmann::ordered_json::parse(renderJsonLine(histJson(s)));
  prev.at = std::chrono::steady_clock::time_point{} + std::chrono::seconds(10);
  s.counters.accepted += 20;   // 10 per second over 2 s
  s.counters.completed += 5;
  ctl::TopSample cur;
  cur.info = nlohmann::ordered_json::parse(renderJsonLine(infoJson(s)));
  cur.workers = prev.workers;
  cur.hist = prev.hist;
  cur.at = prev.at + std::chrono::seconds(2);

  const std::string first = ctl::renderTopFrame(cur, nullptr, 120, 40, 1.0);
  EXPECT_NE(first.find("rates/s  accepted -"), std::string::npos) << first;
  const std::string frame = ctl::renderTopFrame(cur, &prev, 120, 40, 1.0);
  EXPECT_NE(frame.find("preforkd 0.1.0  pid 42  up 0:00:12  generation 2  running  THROTTLED 3 "
                       "start-up failures in a row"),
            std::string::npos)
      << frame;
  EXPECT_NE(frame.find("rates/s  accepted 10.0  completed 2.5  rejected 0.0"), std::string::npos)
      << frame;
  EXPECT_NE(frame.find("\nS_WG\n"), std::string::npos) << frame;
  EXPECT_NE(frame.find("queue_wait       10   10   10  1000   1000  1000"), std::string::npos)
      << frame;
  EXPECT_NE(frame.find("127.0.0.1:2323 queue 3/511"), std::string::npos) << frame;
  EXPECT_TRUE(frame.ends_with("q quit   refresh every 1s\n")) << frame;

  // Bounded by the terminal: at most `height` lines of at most `width` columns.
  const std::string small = ctl::renderTopFrame(cur, &prev, 30, 12, 0.5);
  int lines = 0;
  for (std::size_t at = 0; at < small.size();) {
    const auto end = small.find('\n', at);
    EXPECT_LE(end - at, 30u);
    ++lines;
    at = end + 1;
  }
  EXPECT_LE(lines, 12);
  EXPECT_TRUE(small.ends_with("q quit   refresh every 0.5s\n")) << small;
}

}  // namespace
}  // namespace preforkd
