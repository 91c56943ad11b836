package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The house's import rules, read from `go list` as the compiler sees the
// tree. Only the imports of a package's own (non-test) Go files count: a
// test may use a double, and test helpers are never linked into the binary.

const module = "github.com/paysync/paysync"

// listedPackage is the part of `go list -json` the rules read.
type listedPackage struct {
	ImportPath string
	Imports    []string // of GoFiles and CgoFiles, not of the tests
}

// listModule lists every package of the module once for all the tests here.
var listModule = sync.OnceValues(func() ([]listedPackage, error) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v\n%s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("go list found no package of %s", module)
	}
	return pkgs, nil
})

func listedPackages(t *testing.T) []listedPackage {
	t.Helper()
	pkgs, err := listModule()
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// under reports whether the import path is dir of the module or inside it.
func under(path, dir string) bool {
	p := module + "/" + dir
	return path == p || strings.HasPrefix(path, p+"/")
}

// doubleImports lists the imports of a double (sandbox/...) by production
// code. The doubles' own packages, the commands (cmd/, with the bench and
// demo harnesses under cmd/paysync/internal/) and the end-to-end harness
// (e2e/) serve or drive the doubles; nothing else may link them in.
func doubleImports(pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		if under(p.ImportPath, "sandbox") || under(p.ImportPath, "cmd") || under(p.ImportPath, "e2e") {
			continue
		}
		for _, imp := range p.Imports {
			if under(imp, "sandbox") {
				bad = append(bad, p.ImportPath+" imports "+imp)
			}
		}
	}
	return bad
}

// upwardImports lists the imports from internal/ of paysync packages other
// than core and internal/ itself. The basement holds libraries the floors
// above share (oauthtoken, restclient, standardwebhooks, ...): an import of
// a floor above it is an arrow back up, and no exception is granted.
func upwardImports(pkgs []listedPackage) []string {
	var bad []string
	for _, p := range pkgs {
		if !under(p.ImportPath, "internal") {
			continue
		}
		for _, imp := range p.Imports {
			if (imp == module || strings.HasPrefix(imp, module+"/")) && imp != module+"/core" && !under(imp, "internal") {
				bad = append(bad, p.ImportPath+" imports "+imp)
			}
		}
	}
	return bad
}

// TestProductionImportsNoDouble: no package of the daemon links in a double;
// a double's adapter lives under sandbox/ (sandbox/all registers them).
func TestProductionImportsNoDouble(t *testing.T) {
	t.Parallel()
	for _, b := range doubleImports(listedPackages(t)) {
		t.Errorf("%s: production code must not import a double; move what needs it under sandbox/ or cmd/", b)
	}
}

// TestInternalImportsNothingAbove: no arrow runs back up from internal/.
func TestInternalImportsNothingAbove(t *testing.T) {
	t.Parallel()
	for _, b := range upwardImports(listedPackages(t)) {
		t.Errorf("%s: internal/ may import only core and internal/; move the package beside what it needs", b)
	}
}

// TestImportRulesCatchBreaks: each rule names the package and the import
// that break it, and lets through what it allows.
func TestImportRulesCatchBreaks(t *testing.T) {
	t.Parallel()
	pkgs := []listedPackage{
		{ImportPath: module + "/connectors/bitrix24", Imports: []string{"net/http", module + "/core", module + "/sandbox/bitrix24"}},
		{ImportPath: module + "/sandboxes", Imports: []string{module + "/sandbox"}}, // a name that only starts like sandbox/
		{ImportPath: module + "/sandbox/all", Imports: []string{module + "/sandbox/vpos", module + "/providers"}},
		{ImportPath: module + "/cmd/paysync/internal/demo", Imports: []string{module + "/sandbox", module + "/httpapi"}},
		{ImportPath: module + "/e2e", Imports: []string{module + "/sandbox/chaos"}},
		{ImportPath: module + "/internal/metrics", Imports: []string{module + "/core", module + "/internal/redact", module + "/connectors"}},
		{ImportPath: module + "/internal/oauthtoken", Imports: []string{module + "/core", "github.com/prometheus/client_golang/prometheus"}},
	}
	check := func(rule string, got []string, want ...string) {
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s found\n%s\nwant\n%s", rule, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	check("doubleImports", doubleImports(pkgs),
		module+"/connectors/bitrix24 imports "+module+"/sandbox/bitrix24",
		module+"/sandboxes imports "+module+"/sandbox")
	check("upwardImports", upwardImports(pkgs),
		module+"/internal/metrics imports "+module+"/connectors")
}
