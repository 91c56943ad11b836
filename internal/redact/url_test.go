package redact

import (
	"strings"
	"testing"
)

// TestUnparsableURLShowsSchemeAndHostOnly: issue 22, item 2. A database URL
// that does not parse (a stray % in the password, a bad port, an IPv6 host
// without its ]) is shown as its scheme and host at most, and why it does
// not parse is said without quoting any of it.
func TestUnparsableURLShowsSchemeAndHostOnly(t *testing.T) {
	cases := []struct{ in, shown, problem string }{
		{"postgres://paysync:hunter%zz2@db.example.am:5432/paysync", "postgres://db.example.am", "%25"},
		{"postgres://paysync:hunter2@db.example.am:54x2/paysync", "postgres://db.example.am", "port"},
		{"postgres://paysync:hunter2@[::1/paysync", "postgres://(host unreadable)", "]"},
		{"postgres://paysync:hunter2@[::1]:54x2/paysync", "postgres://[::1]", "port"},
		{"postgres://paysync:hun#ter2@db.example.am:54x2/x", "postgres://(host unreadable)", ""},
		{"postgres://paysync:hun/ter%zz2@db/x", "postgres://(host unreadable)", "port"},
		{"postgres://u:hunter2%@h/x?password=a@hunter2", "postgres://(host unreadable)", "%25"},
		{"post gres://paysync:hunter2%@db/x", "(a database URL that does not parse)", ""},
	}
	for _, c := range cases {
		shown, problem := SchemeAndHost(c.in), URLProblem(c.in)
		if shown != c.shown {
			t.Errorf("SchemeAndHost(%q) = %q, want %q", c.in, shown, c.shown)
		}
		if problem == "" || !strings.Contains(problem, c.problem) {
			t.Errorf("URLProblem(%q) = %q, want a reason mentioning %q", c.in, problem, c.problem)
		}
		for _, leak := range []string{"hunter", "ter2", "zz"} {
			if strings.Contains(shown+problem, leak) {
				t.Errorf("%q shown as %q: %q leaks %q", c.in, shown, problem, leak)
			}
		}
	}
	for _, ok := range []string{"postgres://u:p%40ss@db/x", "host=db password=x", ""} {
		if p := URLProblem(ok); p != "" {
			t.Errorf("URLProblem(%q) = %q, want none", ok, p)
		}
	}
}
