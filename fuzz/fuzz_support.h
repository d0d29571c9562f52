// Shared by the libFuzzer targets in fuzz/ (one target per file, docs/fuzzing.md).
//
// FUZZ_CHECK(cond) is the targets' oracle: a broken property prints what failed and aborts, so
// libFuzzer reports it like a sanitizer finding and saves the input. splitChunks() cuts an
// input into pieces at positions derived from the input's own bytes, so the fuzzer steers the
// split and a state machine's "any split gives the same result" contract is exercised: a run
// fed the chunks is compared with a run fed everything at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);  \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace preforkd::fuzz {

// The input as text (the parsers take string_view).
inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Pieces of 1..32 bytes whose lengths come from a running hash of the bytes at each piece's
// start, with an occasional empty piece (feeding nothing must change nothing). Concatenated,
// the pieces are `input`.
inline std::vector<std::string_view> splitChunks(std::string_view input) {
  std::vector<std::string_view> out;
  std::uint32_t h = 2166136261u;  // FNV-1a
  std::size_t at = 0;
  while (at < input.size()) {
    h = (h ^ static_cast<unsigned char>(input[at])) * 16777619u;
    if ((h & 0x1f) == 0) out.push_back(input.substr(at, 0));
    const std::size_t len = 1 + (h >> 16) % 32;
    out.push_back(input.substr(at, len));
    at += out.back().size();
  }
  return out;
}

}  // namespace preforkd::fuzz
