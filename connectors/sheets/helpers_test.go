package sheets_test

import (
	"io"
	"log/slog"
	"os"
)

// quietLog is the tests' logger: silent unless PAYSYNC_TEST_LOG is set.
func quietLog() *slog.Logger {
	if os.Getenv("PAYSYNC_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
