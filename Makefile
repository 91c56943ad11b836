# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: test lint demo build bench fuzz chaos

test:            ## lint, then the whole suite on SQLite and a throwaway PostgreSQL (what CI runs)
	scripts/test.sh

# gofmt, go vet and staticcheck (pinned in go.mod as a tool: `go tool staticcheck`).
# No check is turned off.
lint:            ## gofmt check, go vet, staticcheck
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt: these files need gofmt -w:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	go tool staticcheck ./...

demo:            ## serve + sandbox CRMs + sample Direct orders, on SQLite in ./data
	go run ./cmd/paysync demo

# paysync version prints these; the commit also comes from Go's build info
# when the checkout allows it, but -X works in worktrees and CI alike.
VERSION ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
COMMIT  ?= $(shell c=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD 2>/dev/null || c=$$c+modified; echo $$c; })

build:           ## ./paysync, stamped with VERSION and COMMIT (paysync version)
	go build -ldflags "-X main.version=$(VERSION) -X main.commit=$(COMMIT)" -o paysync ./cmd/paysync

fuzz:            ## fuzz the webhook ingest on SQLite and PostgreSQL (needs PAYSYNC_TEST_DATABASE_URL), then the mapping renderer
	go test -run '^$$' -fuzz FuzzWebhookIngest -fuzztime 3m ./payments/
	go test -run '^$$' -fuzz FuzzRender -fuzztime 3m ./mapping/

chaos:           ## the long chaos test: 2,000 orders, serve killed, PostgreSQL restarted, CRMs failing (docs/delivery.md)
	PAYSYNC_CHAOS=long go test -count=1 -run TestChaos -timeout 60m -v ./e2e/

bench:           ## benchmarks (needs PAYSYNC_TEST_DATABASE_URL for the PostgreSQL ones)
	go test -run '^$$' -bench . -benchtime 3s ./...
