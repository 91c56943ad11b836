# The two commands a newcomer needs: `make demo` and `make test`.
.PHONY: test demo build bench fuzz

test:            ## the whole suite on SQLite and a throwaway PostgreSQL (what CI runs)
	scripts/test.sh

demo:            ## serve + sandbox CRMs + sample Direct orders, on SQLite in ./data
	go run ./cmd/paysync demo

build:
	go build -o paysync ./cmd/paysync

bench:           ## benchmarks (needs PAYSYNC_TEST_DATABASE_URL for the PostgreSQL ones)
	go test -run '^$$' -bench . -benchtime 3s ./...
