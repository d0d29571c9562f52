# Lean shipped binaries (PREFORKD_STATIC_LIBSTDCXX, ON by default; included by the top-level
# CMakeLists.txt before any target is defined).
#
# Why: the supervisor forks its workers, so every page of code it maps is shared with them,
# but a shared libstdc++ is mapped whole and its start-up (relocations, locale and iostream
# initialisation) faults in much more of it than preforkd uses, and that counts in the PSS of
# every process on the machine that maps it. Linked statically with -ffunction-sections and
# --gc-sections, a binary carries only the C++ runtime functions it calls. libevent_core and
# libc (C libraries) stay shared.
#
# Two more link options keep a forked worker from touching the binary's dynamic-linking
# tables: -z now resolves every PLT symbol in the supervisor at start-up (lazily bound, each
# function a worker called first ran the resolver in that worker, faulting in .dynsym, .dynstr
# and .rela.plt pages and writing the GOT), and -z pack-relative-relocs stores PIE's relative
# relocations as DT_RELR (a few hundred bytes instead of about 90 KiB of .rela.dyn read at
# start-up; glibc 2.36, Debian 12).
#
# preforkd_static_runtime(TARGET) applies the link options to one executable: the shipped ones
# (preforkd, preforkd-worker, preforkctl, preforkd-bench). The test executables keep the shared
# libstdc++: Debian's GoogleTest is a shared C++ library, and two copies of the C++ runtime in
# one process must not be. Sanitizer and fuzz builds keep it too (their runtimes interpose
# operator new and expect the shared C++ runtime).
set(PREFORKD_STATIC_RUNTIME OFF)
if(PREFORKD_STATIC_LIBSTDCXX)
  if(PREFORKD_SANITIZE OR PREFORKD_FUZZ)
    message(STATUS "PREFORKD_STATIC_LIBSTDCXX: off in a sanitizer or fuzz build")
  else()
    set(PREFORKD_STATIC_RUNTIME ON)
    # Every function and object in its own section, so --gc-sections can drop what is unused.
    add_compile_options(-ffunction-sections -fdata-sections)
  endif()
endif()

function(preforkd_static_runtime target)
  if(PREFORKD_STATIC_RUNTIME)
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc
                        LINKER:-O1 LINKER:--gc-sections LINKER:--as-needed
                        LINKER:-z,now LINKER:-z,pack-relative-relocs)
  endif()
endfunction()
