#!/usr/bin/env bash
# Makes sure the browser tests have a Chromium and a font with the Armenian
# dram sign ֏ (U+058F), which every console page shows in amounts: without
# one it is drawn as an empty box. Where either is missing and we are root
# with apt-get (as in CI) it installs them, without recommended packages
# (chromium would pull in its sandbox helper and more that headless tests
# never use); elsewhere it says how.
# The font is fonts-noto-core's Noto Sans Armenian: Debian's DejaVu (2.37)
# has the Armenian letters but not ֏.
# Usage: scripts/test-chromium.sh
set -euo pipefail

packages=()
have_chromium=
for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then
    have_chromium=1
    break
  fi
done
[ -n "$have_chromium" ] || packages+=(chromium)
# fc-list comes with fontconfig, which chromium depends on.
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list ':charset=58f' family)" ]; then
  packages+=(fonts-noto-core)
fi
[ "${#packages[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test-chromium: installing ${packages[*]} for the browser tests (apt-get install -y --no-install-recommends)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >&2
  if [ -z "$(fc-list ':charset=58f' family)" ]; then
    echo "test-chromium: still no font with ֏ (U+058F) after installing fonts-noto-core" >&2
    exit 1
  fi
  exit 0
fi
echo "test-chromium: missing ${packages[*]}; install them (apt-get install --no-install-recommends ${packages[*]}) or the browser tests fail in CI" >&2
exit 1
