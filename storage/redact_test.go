package storage

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"postgres://paysync:hunter2@db.example.am:5432/paysync?sslmode=require":          "postgres://paysync:xxxxx@db.example.am:5432/paysync?sslmode=require",
		"postgres://paysync@db/paysync?password=hunter2&sslmode=disable":                 "postgres://paysync@db/paysync?password=xxxxx&sslmode=disable",
		"postgresql://u:p%40ss@db/x?sslpassword=hunter2":                                 "postgresql://u:xxxxx@db/x?sslpassword=xxxxx",
		"host=db user=paysync password=hunter2 dbname=paysync":                           "host=db user=paysync password=xxxxx dbname=paysync",
		"host=db password='hunter 2' dbname=paysync":                                     "host=db password=xxxxx dbname=paysync",
		"postgres://paysync@db/paysync":                                                  "postgres://paysync@db/paysync",
		"mysql://root:hunter2@db/x?password=hunter2":                                     "mysql://root:xxxxx@db/x?password=xxxxx",
		"postgres://paysync@db/paysync?password=hunter2&password=again&PASSWORD=hunter2": "postgres://paysync@db/paysync?PASSWORD=xxxxx&password=xxxxx",
		// URLs that do not parse: only the scheme and host can be told.
		"postgres://paysync:hunter2%@db.example.am:5432/paysync": "postgres://db.example.am",
		"postgres://paysync:hunter2@db.example.am:54x2/paysync":  "postgres://db.example.am",
		"postgres://paysync:hunter2@[::1/paysync":                "postgres://(host unreadable)",
	}
	for in, want := range cases {
		got := RedactURL(in)
		if got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(got, "hunter") || strings.Contains(got, "again") {
			t.Errorf("RedactURL(%q) = %q leaks the password", in, got)
		}
	}
}

func TestScrubCutsQuotedPasswords(t *testing.T) {
	dsn := "postgres://u:top%2Fsecret@db/x?password=qp%20ss&sslmode=disable"
	for _, msg := range []string{
		`pq: cannot parse "password=qp ss"`,
		`dial: top/secret refused`,
		`bad url ` + dsn,
	} {
		got := scrub(errors.New(msg), dsn).Error()
		if strings.Contains(got, "qp ss") || strings.Contains(got, "top/secret") || strings.Contains(got, "top%2Fsecret") || strings.Contains(got, "qp%20ss") {
			t.Errorf("scrub(%q) = %q leaks a password", msg, got)
		}
	}
}

func TestScrubCutsUnparsablePasswords(t *testing.T) {
	dsn := "postgres://u:top%zzsecret@db/x"
	got := scrub(errors.New(`parse "`+dsn+`": invalid URL escape; top%zzsecret`), dsn).Error()
	if strings.Contains(got, "top%zzsecret") || strings.Contains(got, "zzsecret") {
		t.Errorf("scrub left a password: %q", got)
	}
}
