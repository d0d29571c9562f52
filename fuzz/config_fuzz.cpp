// Fuzz target: the configuration file (supervisor/config_file.h), TOML text onto a
// SupervisorConfig and back.
//
// Input: the text of a configuration file, applied onto the defaults (unknown keys warn).
// Checked: every diagnostic has a message and names the file; every position recorded is one
// of the documented keys; checkConsistency() names documented keys. And renderConfig()'s
// contract, on whatever configuration the text produced (a key that fails keeps its previous,
// valid value, so this holds for rejected files too): the rendering is accepted in strict mode
// onto a configuration that is not the defaults, sets every key, and renders back to the same
// text; the consistency verdict is the same for both.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "supervisor/cli.h"
#include "supervisor/config_file.h"

namespace preforkd {
namespace {

const std::string kSource = "fuzz.toml";

bool isKeyName(const std::string& name) {
  static const std::vector<std::string> names = configKeyNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

void checkDiagnostics(const ConfigFileResult& r) {
  for (const auto* list : {&r.errors, &r.warnings}) {
    for (const ConfigDiagnostic& d : *list) {
      FUZZ_CHECK(!d.message.empty());
      FUZZ_CHECK(d.where.file == kSource);
      FUZZ_CHECK(d.format().starts_with(kSource + ":"));
    }
  }
  for (const auto& [name, where] : r.positions) {
    FUZZ_CHECK(isKeyName(name));
    FUZZ_CHECK(where.line > 0);
  }
}

void checkConsistencyVerdict(const std::optional<ConfigProblem>& problem) {
  if (!problem) return;
  FUZZ_CHECK(!problem->message.empty());
  FUZZ_CHECK(!problem->keys.empty());
  for (const std::string& key : problem->keys) FUZZ_CHECK(isKeyName(key));
}

}  // namespace
}  // namespace preforkd

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace preforkd;
  SupervisorConfig config = defaultConfiguration();
  const ConfigFileResult result =
      applyConfigText(fuzz::text(data, size), kSource, UnknownKeys::Warn, config);
  checkDiagnostics(result);
  const auto problem = checkConsistency(config);
  checkConsistencyVerdict(problem);

  const std::string text = renderConfig(config);
  SupervisorConfig back;  // not the defaults: everything must come from the text
  back.pool.workers = 99;
  back.listen.clear();
  const ConfigFileResult again = applyConfigText(text, kSource, UnknownKeys::Reject, back);
  if (!again.ok()) {
    std::fprintf(stderr, "the rendering of an applied configuration is refused: %s\n%s",
                 again.errors.front().format().c_str(), text.c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again.warnings.empty());
  FUZZ_CHECK(again.positions.size() == configKeyNames().size());
  if (renderConfig(back) != text) {
    std::fprintf(stderr, "rendered:\n%s\nrendered again:\n%s", text.c_str(),
                 renderConfig(back).c_str());
  }
  FUZZ_CHECK(renderConfig(back) == text);
  FUZZ_CHECK(checkConsistency(back).has_value() == problem.has_value());
  return 0;
}
