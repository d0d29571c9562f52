// The worker flags shared by preforkd and preforkd-worker: --max-session parsed into
// WorkerSettings (0 and no flag mean no limit; a bad value is refused), table-driven.
#include "worker/worker_options.h"

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace preforkd {
namespace {

using namespace std::chrono_literals;

// Parses `args` the way preforkd-worker does; nothing if CLI11 refuses them.
std::optional<WorkerSettings> parseWorkerFlags(std::vector<std::string> args) {
  CLI::App app{"test"};
  WorkerOptionText raw;
  addWorkerOptions(app, raw);
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError&) {
    return std::nullopt;
  }
  return applyWorkerOptions(raw);
}

struct MaxSessionCase {
  const char* name;
  std::vector<std::string> args;
  std::optional<std::chrono::milliseconds> expected;  // nothing: refused
};

void PrintTo(const MaxSessionCase& c, std::ostream* os) { *os << c.name; }

const MaxSessionCase kCases[] = {
    {"Absent", {}, 0ms},
    {"Zero", {"--max-session", "0"}, 0ms},
    {"Seconds", {"--max-session", "30s"}, 30s},
    {"PlainSeconds", {"--max-session", "2"}, 2s},
    {"Millis", {"--max-session", "1500ms"}, 1500ms},
    {"Minutes", {"--max-session", "5m"}, 5min},
    {"Hours", {"--max-session", "1h"}, 1h},
    {"EqualsForm", {"--max-session=250ms"}, 250ms},
    {"Negative", {"--max-session", "-1s"}, std::nullopt},
    {"BadUnit", {"--max-session", "3 parsecs"}, std::nullopt},
    {"Empty", {"--max-session", ""}, std::nullopt},
    {"TooLong", {"--max-session", "9000h"}, std::nullopt},
};

class MaxSessionFlag : public testing::TestWithParam<MaxSessionCase> {};

TEST_P(MaxSessionFlag, Parses) {
  const MaxSessionCase& c = GetParam();
  const auto settings = parseWorkerFlags(c.args);
  ASSERT_EQ(settings.has_value(), c.expected.has_value());
  if (settings) {
    EXPECT_EQ(settings->max_session, *c.expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, MaxSessionFlag, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<MaxSessionCase>& test) {
                           return test.param.name;
                         });

}  // namespace
}  // namespace preforkd
