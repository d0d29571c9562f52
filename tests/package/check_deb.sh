#!/usr/bin/env bash
# Builds the .deb with CPack from a finished build directory and inspects it with dpkg-deb:
# the files, the conffile, the dependencies, and maintainer scripts that enable nothing.
#   tests/package/check_deb.sh BUILD_DIR VERSION
set -euo pipefail
build=$1
version=$2
for tool in cpack dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool"; exit 0; }
done
out=$(mktemp -d /tmp/preforkd-deb-XXXXXX)
trap 'rm -rf "$out"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >"$out/cpack.log" 2>&1 ||
  { cat "$out/cpack.log"; fail "cpack failed"; }
deb=$(ls "$out"/preforkd_"$version"_*.deb 2>/dev/null | head -1)
[[ -n "$deb" ]] || { cat "$out/cpack.log"; fail "no preforkd_${version}_*.deb in $out"; }
echo "built $(basename "$deb")"

contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/preforkd ./usr/bin/preforkd-worker ./etc/preforkd/preforkd.toml \
         ./lib/systemd/system/preforkd.service ./lib/systemd/system/preforkd.socket \
         ./lib/systemd/system/preforkd-agent.socket \
         ./usr/share/man/man8/preforkd.8 ./usr/share/man/man1/preforkctl.1 \
         ./usr/share/doc/preforkd/README.md; do
  grep -qE " $f\$" <<<"$contents" || fail "$f is not in the package:"$'\n'"$contents"
done
grep -qE '^-rwxr-xr-x root/root .* ./usr/bin/preforkd$' <<<"$contents" || fail "preforkd is not 0755 root:root"

info=$(dpkg-deb -I "$deb")
grep -q '^ Package: preforkd$' <<<"$info" || fail "package name:"$'\n'"$info"
grep -q "^ Version: $version\$" <<<"$info" || fail "version:"$'\n'"$info"
depends=$(dpkg-deb -f "$deb" Depends)
grep -q 'adduser' <<<"$depends" || fail "Depends lacks adduser: $depends"
if command -v dpkg-shlibdeps >/dev/null; then
  # The shared libraries preforkd links are found by dpkg-shlibdeps. spdlog, fmt and toml++
  # are compiled into the binaries (their header-only forms), so none of them is a dependency.
  for lib in libevent libc6; do
    grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
  done
  for lib in libspdlog libfmt libtomlplusplus; do
    if grep -q "$lib" <<<"$depends"; then fail "Depends has $lib (it is compiled in): $depends"; fi
  done
fi

mkdir "$out/control"
dpkg-deb -e "$deb" "$out/control"
[[ "$(cat "$out/control/conffiles")" == "/etc/preforkd/preforkd.toml" ]] ||
  fail "conffiles: $(cat "$out/control/conffiles" 2>/dev/null)"
for script in postinst prerm postrm; do
  [[ -x "$out/control/$script" ]] || fail "$script missing or not executable"
  sh -n "$out/control/$script" || fail "$script: syntax error"
  if grep -vE '^\s*#' "$out/control/$script" | grep -qE 'systemctl[^|;&]*\b(enable|start|unmask)\b'; then
    fail "$script enables or starts something"
  fi
done
grep -q 'daemon-reload' "$out/control/postinst" || fail "postinst does not reload systemd"
grep -q 'daemon-reload' "$out/control/postrm" || fail "postrm does not reload systemd"
echo "package_deb: OK"
