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

// TestUnparsableDatabaseURLNeverShown: issue 22, item 2. A database URL
// that does not parse (a % in the password, a bad port, an IPv6 host
// without its ]) used to be printed whole, twice, by every command that
// opened the database. Now Open refuses it showing only its scheme and
// host, and says why without quoting any of it.
func TestUnparsableDatabaseURLNeverShown(t *testing.T) {
	testdb.Each(t, func(t *testing.T, dialect string) {
		host := "localhost"
		if dialect == storage.Postgres {
			u, err := url.Parse(testdb.PostgresURL(t))
			if err != nil {
				t.Fatal(err)
			}
			host = u.Hostname()
		}
		cases := map[string]string{
			"postgres://paysync:hun%zzter2@" + host + ":5432/paysync": "%25",
			"postgres://paysync:hunter2@" + host + ":54x2/paysync":    "port",
			"postgres://paysync:hunter2@[::1/paysync":                 "]",
		}
		if dialect == storage.SQLite {
			// Someone meaning SQLite who set a URL anyway.
			cases = map[string]string{"sqlite://admin:hun%zzter2@" + host + "/paysync.db": "postgres://"}
		}
		for in, why := range cases {
			_, err := storage.Open(context.Background(), storage.Options{DatabaseURL: in, DataDir: t.TempDir()})
			if core.ErrorCode(err) != core.EINVALID {
				t.Fatalf("Open(%s): %v, want a refusal", storage.RedactURL(in), err)
			}
			for _, shown := range []string{err.Error(), core.ErrorMessage(err), storage.RedactURL(in)} {
				for _, leak := range []string{"hunter", "hun%", "zzter", "ter2"} {
					if strings.Contains(shown, leak) {
						t.Fatalf("%q shows a piece of the password (%s)", shown, leak)
					}
				}
			}
			if msg := core.ErrorMessage(err); !strings.Contains(msg, why) || !strings.Contains(msg, "://") {
				t.Fatalf("%q does not say which database or why (%s)", msg, why)
			}
		}
	})
}

// TestIdleTransactionsEnd: a replica cut off or paused inside a transaction
// must not hold its locks (the lease row, claimed records) past its lease,
// so PostgreSQL ends such a session after a few seconds (issue 23); a URL
// that sets the timeout itself keeps its own.
func TestIdleTransactionsEnd(t *testing.T) {
	base := testdb.NewPostgresDB(t)
	for _, c := range []struct{ url, want string }{
		{base, "5s"},
		{base + "&idle_in_transaction_session_timeout=9000", "9s"},
	} {
		db, err := storage.Open(context.Background(), storage.Options{DatabaseURL: c.url})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = db.Reader().Get(&got, `SHOW idle_in_transaction_session_timeout`)
		db.Close()
		if err != nil || got != c.want {
			t.Errorf("idle_in_transaction_session_timeout = %q (%v), want %q", got, err, c.want)
		}
	}
}
