// Package migrations embeds the SQL schema, one numbered set per dialect.
// Each file is applied once, in its own transaction, in name order.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS

// Names lists a dialect's migration files in the order they apply.
func Names(dialect string) []string {
	entries, _ := FS.ReadDir(dialect)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}
