package main

import (
	"bytes"
	"context"
	"flag"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"

	"github.com/paysync/paysync/config"
)

// subcommands are the words after a registered command that has its own
// (orders create|show|list): each gets its --help checked too.
var subcommands = map[string][]string{"orders": {"create", "show", "list"}}

// TestEveryHelpIsComplete runs `--help` of every registered command: the
// help goes to stdout, nothing to stderr, exit 0, and every flag the
// command defines is listed. serve's also names every PAYSYNC_* variable.
func TestEveryHelpIsComplete(t *testing.T) {
	t.Setenv("PAYSYNC_DATA_DIR", filepath.Join(t.TempDir(), "data"))
	var invocations [][]string
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		invocations = append(invocations, strings.Fields(n))
		for _, sub := range subcommands[n] {
			invocations = append(invocations, append(strings.Fields(n), sub))
		}
	}
	for _, words := range invocations {
		for _, help := range []string{"--help", "-h"} {
			name := strings.Join(words, " ")
			var out, errb bytes.Buffer
			env := &cmdEnv{stdout: &out, stderr: &errb}
			code := env.run(context.Background(), append(append([]string{}, words...), help))
			if code != 0 || out.Len() == 0 || errb.Len() != 0 {
				t.Errorf("%s %s: exit %d, stdout %d bytes, stderr %q; want 0, the help on stdout, nothing on stderr", name, help, code, out.Len(), errb.String())
				continue
			}
			if env.fs == nil {
				if _, ok := subcommands[name]; !ok {
					t.Errorf("%s %s made no flag set: it does not parse its flags, so --help cannot be complete", name, help)
				}
				continue
			}
			env.fs.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out.String(), "-"+f.Name+" ") && !strings.Contains(out.String(), "-"+f.Name+"\n") {
					t.Errorf("%s %s does not list its flag -%s:\n%s", name, help, f.Name, out.String())
				}
			})
		}
	}

	code, out, errs := cli(t, "serve", "--help")
	if code != 0 || errs != "" {
		t.Fatalf("serve --help: exit %d, stderr %q", code, errs)
	}
	for _, v := range config.Variables() {
		if !strings.Contains(out, v.Name) {
			t.Errorf("serve --help does not name %s (%s)", v.Name, v.Key)
		}
	}
	// `paysync help CMD` is `paysync CMD --help`.
	if code, got, _ := cli(t, "help", "serve"); code != 0 || got != out {
		t.Errorf("help serve: exit %d, differs from serve --help", code)
	}
}

// TestFlagMistakeGoesToStderr: a wrong flag is not help: the message and
// the usage go to stderr and the exit is not 0.
func TestFlagMistakeGoesToStderr(t *testing.T) {
	t.Setenv("PAYSYNC_DATA_DIR", filepath.Join(t.TempDir(), "data"))
	code, out, errs := cli(t, "migrate", "--no-such-flag")
	if code == 0 || out != "" || !strings.Contains(errs, "no-such-flag") || !strings.Contains(errs, "Usage: paysync migrate") {
		t.Errorf("migrate --no-such-flag: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		code, out, errs := cli(t, args...)
		if code != 0 || !strings.HasPrefix(out, "paysync ") || !strings.Contains(out, " commit ") || errs != "" {
			t.Errorf("%v: exit %d %q %q", args, code, out, errs)
		}
	}
	bi := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc123"}, {Key: "vcs.modified", Value: "true"}}}
	if rev, mod := buildCommit(bi, ""); rev != "abc123" || !mod {
		t.Errorf("from build info: %q modified=%v, want abc123 modified=true", rev, mod)
	}
	if rev, mod := buildCommit(bi, "def456"); rev != "def456" || mod {
		t.Errorf("with -ldflags: %q modified=%v, want def456 as set", rev, mod)
	}
}
