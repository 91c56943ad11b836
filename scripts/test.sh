#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it: starts a throwaway
# PostgreSQL cluster (installing PostgreSQL if it is missing), then go vet and
# go test -race over every package, on SQLite and PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

export PAYSYNC_REQUIRE_POSTGRES=1
pgdir=$(mktemp -d /tmp/paysync-pg.XXXXXX)
chmod 755 "$pgdir"
cleanup() { scripts/test-postgres.sh stop "$pgdir/data" || true; rm -rf "$pgdir"; }
trap cleanup EXIT

echo "== starting a throwaway PostgreSQL cluster"
eval "$(scripts/test-postgres.sh start "$pgdir/data")"
echo "   $PAYSYNC_TEST_DATABASE_URL"

echo "== go vet"
go vet ./...

echo "== go test -race"
go test -race -count=1 -timeout 20m "$@" ./...
