#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: lint (gofmt, go vet,
# staticcheck), then a throwaway PostgreSQL cluster (installing PostgreSQL if
# it is missing), Chromium and a font with ֏ for the console's browser test
# (installed if missing, without recommended packages) and go test -race over every package, on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

export PAYSYNC_REQUIRE_POSTGRES=1
pgdir=$(mktemp -d /tmp/paysync-pg.XXXXXX)
chmod 755 "$pgdir"
cleanup() { scripts/test-postgres.sh stop "$pgdir/data" >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap cleanup EXIT

echo "== lint (make lint: gofmt, go vet, staticcheck)"
make --no-print-directory lint || { echo "tests: FAILED (lint: fix what it printed above, then run make test again)"; exit 1; }

echo "== starting a throwaway PostgreSQL cluster"
eval "$(scripts/test-postgres.sh start "$pgdir/data")"
echo "   $PAYSYNC_TEST_DATABASE_URL"

echo "== Chromium and a font with ֏ for the browser test"
scripts/test-chromium.sh || true # without it the browser test fails and says why

echo "== go test -race (storage-backed tests run on sqlite and postgres)"
log="$pgdir/go-test.log"
status=0
go test -race -count=1 -v -timeout 20m "$@" ./... >"$log" 2>&1 || status=$?
# Package results, plus each storage-backed suite per database.
grep -E '^(ok|FAIL|panic:)|^\s*--- (PASS|FAIL|SKIP): Test[A-Za-z]+/(sqlite|postgres) ' "$log" || true
passed=$(grep -cE '^\s*--- PASS' "$log" || true)
failed=$(grep -cE '^\s*--- FAIL' "$log" || true)
skipped=$(grep -cE '^\s*--- SKIP' "$log" || true)
if [ "$status" -ne 0 ]; then
  echo "== failures"
  grep -E -B2 -A25 -- '--- FAIL|^panic:|\[build failed\]|race detected' "$log" | head -400
elif grep -q 'PostgreSQL test skipped' "$log"; then
  echo "PostgreSQL tests were skipped; they must run here" >&2
  status=1
elif grep -q 'browser test skipped' "$log"; then
  echo "the browser test was skipped; it must run here" >&2
  status=1
fi
cleanup >/dev/null 2>&1
trap - EXIT
# The summary is the last line, whatever happened above.
if [ "$status" -ne 0 ]; then
  echo "tests: FAILED ($passed passed, $failed failed, $skipped skipped)"
  exit "$status"
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
