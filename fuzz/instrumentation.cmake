# The libFuzzer build's compiler check and flags, included by the top-level CMakeLists.txt when
# PREFORKD_FUZZ is ON, before any target is defined: every object (the libraries the targets
# link, too) is instrumented for coverage and built with ASan + UBSan; only the executables in
# fuzz/ link the libFuzzer runtime (fuzz/CMakeLists.txt). scripts/fuzz configures it.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR
    "PREFORKD_FUZZ=ON needs clang (libFuzzer is part of clang's runtime), but the C++ compiler "
    "is ${CMAKE_CXX_COMPILER_ID} (${CMAKE_CXX_COMPILER}). Configure a separate build directory "
    "with CC=clang-14 CXX=clang++-14, or run scripts/fuzz.")
endif()
# UBSan findings abort (as ASan's do), so a reproduced crash input fails without any *_OPTIONS.
# Line tables are all a symbolized stack trace needs, and much cheaper to build than full -g.
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
                    -fno-omit-frame-pointer -gline-tables-only)
add_link_options(-fsanitize=address,undefined)
