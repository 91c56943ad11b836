// Package migrations embeds the SQL schema, one numbered set per dialect.
// Each file is applied once, in its own transaction, in name order.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
