package storage_test

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
	"github.com/paysync/paysync/storage/testdb"
)

// TestOpenErrorsHideDatabasePasswords: whatever makes Open fail, the error
// shows the database URL with its passwords (userinfo and ?password=) hidden.
func TestOpenErrorsHideDatabasePasswords(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		var urls []string
		if dialect == storage.Postgres {
			u, err := url.Parse(testdb.PostgresURL(t))
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("password", "qs-hunter2")
			u.RawQuery = q.Encode()
			u.User = url.UserPassword(u.User.Username(), "ui-hunter2")
			missingDB := *u
			missingDB.Path = "/no_such_database_here"
			deadPort := *u
			deadPort.Host = "127.0.0.1:1"
			urls = []string{missingDB.String(), deadPort.String()}
		} else {
			// Someone meaning SQLite who set a URL anyway.
			urls = []string{"sqlite://admin:ui-hunter2@localhost/paysync.db?password=qs-hunter2"}
		}
		for _, u := range urls {
			_, err := storage.Open(context.Background(), storage.Options{DatabaseURL: u, DataDir: t.TempDir()})
			if err == nil {
				t.Fatalf("Open(%s) succeeded", storage.RedactURL(u))
			}
			for _, shown := range []string{err.Error(), core.ErrorMessage(err)} {
				if strings.Contains(shown, "hunter2") {
					t.Fatalf("error shows a password: %s", shown)
				}
				if !strings.Contains(shown, "xxxxx") {
					t.Fatalf("error does not say which database (redacted URL): %s", shown)
				}
			}
		}
	})
}
