package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/paysync/paysync/present"
	"github.com/paysync/paysync/statement"
)

func init() {
	register(command{name: "export", usage: "export --from YYYY-MM-DD --to YYYY-MM-DD --format csv|xlsx [--out FILE]: the accountant's money movements", run: runExport})
}

const exportUsage = "usage: paysync export --from YYYY-MM-DD --to YYYY-MM-DD --format csv|xlsx [--out FILE]"

func runExport(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("export")
	from := fs.String("from", "", "first day, YYYY-MM-DD in the shop's time zone (time_zone)")
	to := fs.String("to", "", "last day, included")
	format := fs.String("format", "csv", "csv or xlsx")
	out := fs.String("out", "", "file to write (default: standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" {
		return &exitError{code: 2, msg: "paysync export: --from and --to are required\n" + exportUsage}
	}
	if !slices.Contains(statement.Formats, *format) {
		return &exitError{code: 2, msg: fmt.Sprintf("paysync export: --format %q: use csv or xlsx\n%s", *format, exportUsage)}
	}
	cfg, err := env.loadConfig(ctx)
	if err != nil {
		return err
	}
	zone, err := present.LoadZone(cfg.TimeZone)
	if err != nil {
		return &exitError{code: 2, msg: "paysync: time_zone: " + err.Error()}
	}
	period, err := statement.ParsePeriod(*from, *to, zone)
	if err != nil {
		return &exitError{code: 2, msg: "paysync export: " + strings.TrimPrefix(err.Error(), "invalid: ") + "\n" + exportUsage}
	}
	a, err := openAppWith(ctx, env, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	orders, err := a.store.MoneyJournal(ctx, period.Start, period.End)
	if err != nil {
		return userError("export", err)
	}
	st := statement.Build(period, orders)
	write := func(w io.Writer) error {
		if *format == "xlsx" {
			return st.WriteXLSX(w)
		}
		return st.WriteCSV(w)
	}
	if *out == "" {
		return write(env.stdout)
	}
	if err := writeFileAtomic(*out, write); err != nil {
		return userError("export", fmt.Errorf("cannot write %s: %w", *out, err))
	}
	fmt.Fprintf(env.stderr, "wrote %d movements of %s to %s (times in %s) to %s\n", len(st.Lines), *from, *to, zone, *out)
	return nil
}

// writeFileAtomic writes a file beside its name and renames it into place.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
