// checkTomlText(): table-driven. Valid TOML with non-ASCII text in strings and comments
// passes (rewritten only after a line-ending backslash); non-ASCII anywhere else is found at
// its line and column.
#include "supervisor/toml_text_guard.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "supervisor/cli.h"
#include "supervisor/config_file.h"

namespace preforkd {
namespace {

struct Case {
  std::string name;
  std::string text;
  std::optional<TextPosition> expected;
};

TEST(TomlTextGuard, FindsNonAsciiOnlyOutsideStringsAndComments) {
  const std::vector<Case> cases = {
      {"plain ascii", "[pool]\nworkers = 4\n", std::nullopt},
      {"comment", "# caf\xc3\xa9\n[pool]\n", std::nullopt},
      {"comment after a value", "a = 1 # \xc3\xa9t\xc3\xa9\n", std::nullopt},
      {"basic string", "a = \"occup\xc3\xa9\"\n", std::nullopt},
      {"literal string", "a = 'occup\xc3\xa9'\n", std::nullopt},
      {"quoted key", "\"caf\xc3\xa9\" = 1\n", std::nullopt},
      {"escaped quote keeps the string open", "a = \"x\\\" \xc3\xa9\"\n", std::nullopt},
      {"escaped backslash ends before the quote", "a = \"x\\\\\" \xc3\xa9 = 1\n", TextPosition{1, 11}},
      {"multi-line basic", "a = \"\"\"one\ntwo \xc3\xa9\n\"\"\"\n", std::nullopt},
      {"multi-line literal", "a = '''one\n\xc3\xa9'''\n", std::nullopt},
      {"quotes inside a multi-line basic", "a = \"\"\"say \"\"hi\"\" \xc3\xa9\"\"\"\n", std::nullopt},
      {"two extra quotes before the end", "a = \"\"\"x\"\"\"\"\" # \xc3\xa9\n", std::nullopt},
      {"line-ending backslash", "a = \"\"\"x \\\n  \xc3\xa9\"\"\"\n", std::nullopt},
      {"bare key", "caf\xc3\xa9 = 1\n", TextPosition{1, 4}},
      {"dotted bare key", "a.b\xc3\xa9 = 1\n", TextPosition{1, 4}},
      {"table header, second line", "[pool]\n[l\xd2\x88g]\n", TextPosition{2, 3}},
      {"after a multi-line string", "a = \"\"\"x\n\"\"\"\nk\xc3\xa9y = 1\n", TextPosition{3, 2}},
      {"bare value", "a = caf\xc3\xa9\n", TextPosition{1, 8}},
      {"unterminated string ends at its line", "a = \"x\n\xc3\xa9 = 1\n", TextPosition{2, 1}},
      {"unterminated literal ends at its line", "a = 'x\n\xc3\xa9 = 1\n", TextPosition{2, 1}},
      {"a byte order mark is skipped", "\xef\xbb\xbf[pool]\n", std::nullopt},
  };
  for (const Case& c : cases) {
    const auto got = checkTomlText(c.text).non_ascii_outside_strings;
    EXPECT_EQ(got.has_value(), c.expected.has_value()) << c.name;
    if (got && c.expected) {
      EXPECT_EQ(got->line, c.expected->line) << c.name;
      EXPECT_EQ(got->column, c.expected->column) << c.name;
    }
  }
}

struct Rewrite {
  std::string name;
  std::string text;
  std::optional<std::string> expected;  // nothing: parsed as it is
};

TEST(TomlTextGuard, EscapesTheCharacterAfterALineEndingBackslash) {
  const std::vector<Rewrite> cases = {
      {"no backslash", "a = \"\"\"x\n\xc3\xa9\"\"\"\n", std::nullopt},
      {"ascii after the trim", "a = \"\"\"x \\\n  y\xc3\xa9\"\"\"\n", std::nullopt},
      {"two-byte character", "a = \"\"\"x \\\n  \xc3\xa9t\xc3\xa9\"\"\"\n",
       "a = \"\"\"x \\\n  \\u00E9t\xc3\xa9\"\"\"\n"},
      {"after blank lines and CRLF", "a = \"\"\"x \\ \r\n\r\n\t\xd2\x88\"\"\"\n",
       "a = \"\"\"x \\ \r\n\r\n\t\\u0488\"\"\"\n"},
      {"four-byte character", "a = \"\"\"\\\n\xf0\x9f\x98\x80\"\"\"\n",
       "a = \"\"\"\\\n\\U0001F600\"\"\"\n"},
      {"an escaped backslash is not line-ending", "a = \"\"\"x \\\\\n\xc3\xa9\"\"\"\n", std::nullopt},
      {"not in a literal string", "a = '''x \\\n\xc3\xa9'''\n", std::nullopt},
  };
  for (const Rewrite& c : cases) {
    const TomlTextCheck got = checkTomlText(c.text);
    EXPECT_FALSE(got.non_ascii_outside_strings) << c.name;
    EXPECT_EQ(got.text, c.expected) << c.name;
  }
  // The string's value is what the document says.
  SupervisorConfig config = defaultConfiguration();
  const ConfigFileResult r = applyConfigText(
      "[overload]\nbusy_message = \"\"\"busy \\\n   \xc3\xa9t\xc3\xa9\"\"\"\n", "preforkd.toml",
      UnknownKeys::Reject, config);
  ASSERT_TRUE(r.ok()) << r.errors.front().format();
  EXPECT_EQ(config.overload.busy_message, "busy \xc3\xa9t\xc3\xa9");
}

// The fuzzer's input that made the TOML parser reach __builtin_unreachable(): now an error
// with a position, before the parser sees it.
TEST(TomlTextGuard, TheConfigFileRefusesItWithAPosition) {
  const std::string text =
      "[overload]\nbusy_message = \"\"\"multi\nline\"\"\"\n[l\xd2\x88g]\nfile = '/var/x'\n";
  SupervisorConfig config = defaultConfiguration();
  const ConfigFileResult r = applyConfigText(text, "preforkd.toml", UnknownKeys::Warn, config);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(),
            "preforkd.toml:4:3: non-ASCII character outside a string or comment (bare keys are "
            "ASCII letters, digits, '-' and '_'; quote other text)");
  SupervisorConfig again = defaultConfiguration();
  EXPECT_TRUE(applyConfigText("[overload]\nbusy_message = \"occup\xc3\xa9\" # \xc3\xa9t\xc3\xa9\n",
                              "preforkd.toml", UnknownKeys::Reject, again)
                  .ok())
      << "non-ASCII text in strings and comments stays valid";
  EXPECT_EQ(again.overload.busy_message, "occup\xc3\xa9");
}

}  // namespace
}  // namespace preforkd
