package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/storage"
)

func init() {
	register(command{name: "backup", usage: "backup --out FILE: a consistent copy of the live SQLite database (PostgreSQL: pg_dump)", run: runBackup})
	register(command{name: "restore", usage: "restore FILE: a backup into the configured, empty data dir", run: runRestore})
}

func runBackup(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("backup")
	out := fs.String("out", "", "the backup file to write (it must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return &exitError{code: 2, msg: "paysync backup: missing --out FILE\nusage: paysync backup --out FILE"}
	}
	cfg, err := env.loadConfig(ctx)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return &exitError{code: 2, msg: "paysync backup: " + storage.PostgresBackupHint}
	}
	// The copy is of the database as it is: no migration is applied, so a
	// newer binary never changes the schema under a running serve.
	if _, err := os.Stat(filepath.Join(cfg.DataDir, storage.DatabaseFile)); err != nil {
		return &exitError{code: 1, msg: fmt.Sprintf("paysync backup: no database at %s: nothing to back up (is PAYSYNC_DATA_DIR right?)",
			filepath.Join(cfg.DataDir, storage.DatabaseFile))}
	}
	db, err := storage.Open(ctx, storage.Options{DataDir: cfg.DataDir, SQLiteSynchronous: cfg.SQLiteSynchronous, SQLiteWALLimit: int64(cfg.SQLiteWALLimit)})
	if err != nil {
		return &exitError{code: 1, msg: "paysync backup: " + core.ErrorMessage(err)}
	}
	defer db.Close()
	info, err := db.Backup(ctx, *out)
	if err != nil {
		return userError("backup", err)
	}
	fmt.Fprintf(env.stdout, "backup written to %s: %d bytes, %d orders, schema %s\n", info.Path, info.Bytes, info.Orders, info.Latest)
	return nil
}

func runRestore(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("restore")
	file, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if file == "" && fs.NArg() > 0 {
		file = fs.Arg(0)
	}
	if file == "" {
		return &exitError{code: 2, msg: "paysync restore: missing the backup file\nusage: paysync restore FILE"}
	}
	cfg, err := env.loadConfig(ctx)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL != "" {
		return &exitError{code: 2, msg: "paysync restore: " + storage.PostgresBackupHint}
	}
	info, err := storage.Restore(ctx, file, cfg.DataDir)
	if err != nil {
		return userError("restore", err)
	}
	fmt.Fprintf(env.stdout, "restored %s into %s: %d orders, schema %s; start serve (it applies newer migrations)\n",
		file, info.Path, info.Orders, info.Latest)
	return nil
}
