// Package sheets connects paysync to Google Sheets: one row per order, kept
// in step as its payment status changes.
package sheets

import (
	"context"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
)

// Name is the connector's name in config, the outbox and links.
const Name = "sheets"

func init() {
	connectors.Register(connectors.Spec{
		Name:     Name,
		Title:    "Google Sheets",
		Settings: func() connectors.Settings { return DefaultSettings() },
		New: func(context.Context, connectors.Deps) (core.Connector, error) {
			return nil, core.Errorf(core.EINVALID, "the Google Sheets connector is not in this release yet: unset the PAYSYNC_SHEETS_* settings")
		},
	})
}

// Settings is the `connectors.sheets` section of the config file.
type Settings struct {
	SpreadsheetID   string  `yaml:"spreadsheet_id" env:"PAYSYNC_SHEETS_SPREADSHEET_ID, overwrite"`
	CredentialsFile string  `yaml:"credentials_file" env:"PAYSYNC_SHEETS_CREDENTIALS_FILE, overwrite"`
	Endpoint        string  `yaml:"endpoint" env:"PAYSYNC_SHEETS_ENDPOINT, overwrite"`
	Sheet           string  `yaml:"sheet"`
	WritesPerMinute float64 `yaml:"writes_per_minute"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	return &Settings{Endpoint: "https://sheets.googleapis.com/", Sheet: "Orders", WritesPerMinute: 60}
}

// Enabled: a spreadsheet and a service-account key file.
func (s *Settings) Enabled() bool { return s.SpreadsheetID != "" && s.CredentialsFile != "" }
