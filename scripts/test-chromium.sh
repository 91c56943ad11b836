#!/usr/bin/env bash
# Makes sure a Chromium for the browser tests is installed: apt-get installs
# it where it is missing and we are root (as in CI); elsewhere it says how.
# Usage: scripts/test-chromium.sh
set -euo pipefail

for name in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$name" >/dev/null 2>&1; then
    exit 0
  fi
done
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test-chromium: installing Chromium for the browser tests (apt-get install -y chromium)" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
  exit 0
fi
echo "test-chromium: Chromium not found; install it (apt-get install chromium) or the browser tests fail in CI" >&2
exit 1
