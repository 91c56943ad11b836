package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerIgnored reports whether .dockerignore's patterns keep path out of
// the build context, by Docker's rules for the patterns it uses (no "!"):
// a pattern excludes what it matches and everything under that, and a
// leading "**/" matches in any folder.
func dockerIgnored(patterns []string, path string) bool {
	parts := strings.Split(path, "/")
	for i := 1; i <= len(parts); i++ {
		for _, p := range patterns {
			rest, anywhere := strings.CutPrefix(p, "**/")
			for j := 0; j < i; j++ {
				if j > 0 && !anywhere {
					break
				}
				if ok, _ := filepath.Match(rest, strings.Join(parts[j:i], "/")); ok {
					return true
				}
			}
		}
	}
	return false
}

// TestDockerIgnore: the shop's data, config and git history never reach an
// image, and everything the Dockerfile builds from does.
func TestDockerIgnore(t *testing.T) {
	raw, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf("%q: this test does not know exceptions; extend dockerIgnored", line)
			}
			patterns = append(patterns, line)
		}
	}
	for _, p := range []string{"data", "data/paysync.db", "data/demo/paysync.log", "cmd/paysync/data/demo/paysync.db",
		".git/HEAD", "config.yaml", "paysync", "cmd/paysync/paysync.test", "cover.out"} {
		if !dockerIgnored(patterns, p) {
			t.Errorf("%s reaches the image", p)
		}
	}
	// Every source file the build needs stays in.
	root := "../.."
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".git" || d.Name() == "data" {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case strings.HasSuffix(rel, ".go"), strings.HasSuffix(rel, ".sql"), rel == "go.mod", rel == "go.sum",
			strings.HasPrefix(rel, "mapping/") && strings.HasSuffix(rel, ".yaml"):
			if dockerIgnored(patterns, rel) {
				t.Errorf("%s is needed by the build but .dockerignore leaves it out", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("../../docs/deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(df), "-X main.commit=${COMMIT}") {
		t.Error("the Dockerfile does not stamp the commit, which .git no longer brings")
	}
}
