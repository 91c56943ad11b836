package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

// Name is the connector's name in config, the outbox and links.
const Name = "sheets"

func init() {
	connectors.Register(connectors.Spec{
		Name:      Name,
		Title:     "Google Sheets",
		Settings:  func() connectors.Settings { return DefaultSettings() },
		Mapping:   mapping.Profile{Record: "row (header names)", NoContact: "a row holds the customer's columns itself"},
		New:       newFromSettings,
		Check:     checkAccount,
		RecordURL: recordURL,
	})
}

// Settings is the `connectors.sheets` section of the config file.
type Settings struct {
	// SpreadsheetID is the id in the sheet's address, between /d/ and /edit.
	SpreadsheetID string `yaml:"spreadsheet_id" env:"PAYSYNC_SHEETS_SPREADSHEET_ID, overwrite"`
	// CredentialsFile is the service account's JSON key file; the file is a
	// secret, its path is not.
	CredentialsFile string `yaml:"credentials_file" env:"PAYSYNC_SHEETS_CREDENTIALS_FILE, overwrite"`
	Endpoint        string `yaml:"endpoint" env:"PAYSYNC_SHEETS_ENDPOINT, overwrite"`
	// Sheet is the tab the rows go to; created when missing.
	Sheet string `yaml:"sheet"`
	// KeyColumn is the header of the column that holds the order id.
	KeyColumn string `yaml:"key_column"`
	// WritesPerMinute and ReadsPerMinute are what paysync spends of the
	// service account's quota (Google allows 60 of each a minute per user).
	WritesPerMinute int `yaml:"writes_per_minute"`
	ReadsPerMinute  int `yaml:"reads_per_minute"`
}

// DefaultSettings are the built-in values of the section.
func DefaultSettings() *Settings {
	return &Settings{Endpoint: DefaultEndpoint, Sheet: DefaultSheet, KeyColumn: DefaultKeyColumn,
		WritesPerMinute: DefaultWritesPerMinute, ReadsPerMinute: DefaultReadsPerMinute}
}

// Enabled: a spreadsheet and a service-account key file.
func (s *Settings) Enabled() bool { return s.SpreadsheetID != "" && s.CredentialsFile != "" }

var spreadsheetID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate checks the values serve would refuse, with the same code.
func (s *Settings) Validate(bad func(key, reason string)) {
	if s.SpreadsheetID != "" && !spreadsheetID.MatchString(s.SpreadsheetID) {
		bad("spreadsheet_id", "the spreadsheet id is the part of the sheet's address between /d/ and /edit (letters, digits, - and _), not the whole address")
	}
	if (s.SpreadsheetID == "") != (s.CredentialsFile == "") {
		if s.SpreadsheetID == "" {
			bad("spreadsheet_id", "Google Sheets needs both spreadsheet_id (PAYSYNC_SHEETS_SPREADSHEET_ID) and credentials_file (PAYSYNC_SHEETS_CREDENTIALS_FILE)")
		} else {
			bad("credentials_file", "Google Sheets needs both spreadsheet_id (PAYSYNC_SHEETS_SPREADSHEET_ID) and credentials_file (PAYSYNC_SHEETS_CREDENTIALS_FILE)")
		}
	}
	if s.CredentialsFile != "" {
		if _, err := readKey(s.CredentialsFile); err != nil {
			bad("credentials_file", err.Error())
		}
	}
	if s.Endpoint != "" {
		if u, err := url.Parse(s.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint", fmt.Sprintf("connectors.sheets.endpoint %q is not an http(s) URL (leave it out for %s)", s.Endpoint, DefaultEndpoint))
		}
	}
	if strings.TrimSpace(s.Sheet) == "" || len([]rune(s.Sheet)) > 100 {
		bad("sheet", "connectors.sheets.sheet is the tab's name: 1 to 100 characters")
	}
	if strings.TrimSpace(s.KeyColumn) == "" {
		bad("key_column", "connectors.sheets.key_column is the header of the order-id column (default \"Order ID\")")
	}
	if s.WritesPerMinute < 1 {
		bad("writes_per_minute", "connectors.sheets.writes_per_minute must be at least 1 (Google allows 60 write requests a minute per service account)")
	}
	if s.ReadsPerMinute < 1 {
		bad("reads_per_minute", "connectors.sheets.reads_per_minute must be at least 1 (Google allows 60 read requests a minute per service account)")
	}
}

// readKey reads and checks a key file. Its errors name the file, never its
// contents.
func readKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, core.Errorf(core.EINVALID, "cannot read the service-account key file %s: %v (download it in Google Cloud console > IAM & Admin > Service accounts > Keys)", path, unwrapPathError(err))
	}
	if _, err := ParseKey(key); err != nil {
		return nil, core.Errorf(core.EINVALID, "%s: %s", path, strings.TrimPrefix(err.Error(), "invalid: "))
	}
	return key, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// ClientFor builds the API client of the settings.
func ClientFor(s *Settings, d connectors.Deps) (*Client, error) {
	key, err := readKey(s.CredentialsFile)
	if err != nil {
		return nil, err
	}
	return New(Config{SpreadsheetID: s.SpreadsheetID, Key: key, Endpoint: s.Endpoint,
		WritesPerMinute: s.WritesPerMinute, ReadsPerMinute: s.ReadsPerMinute, HTTPClient: d.HTTPClient, Meter: d.Meter})
}

func newFromSettings(_ context.Context, d connectors.Deps) (core.Connector, error) {
	s := d.Settings.(*Settings)
	client, err := ClientFor(s, d)
	if err != nil {
		return nil, err
	}
	cfg := ConnectorConfig{Client: client, Sheet: s.Sheet, KeyColumn: s.KeyColumn, Logger: d.Logger}
	if d.Mappings != nil {
		cfg.Mappings = d.Mappings
	}
	return NewConnector(cfg)
}

// checkAccount reads the spreadsheet for `paysync connectors check`: it
// exists and is shared, the tab exists, the account can write, and the
// header row has every column of the mapping.
func checkAccount(ctx context.Context, d connectors.Deps, m *mapping.Mapping, w io.Writer) ([]string, error) {
	s := d.Settings.(*Settings)
	client, err := ClientFor(s, d)
	if err != nil {
		return nil, err
	}
	ss, err := client.Spreadsheet(ctx)
	if err != nil {
		return nil, Classify(err)
	}
	fmt.Fprintf(w, "  spreadsheet %q, service account %s\n", ss.Title, client.Email())
	var problems []string
	if err := client.ProbeWrite(ctx, ss.Title); err != nil {
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
			return nil, Classify(err)
		}
		problems = append(problems, fmt.Sprintf("the service account may not write to the spreadsheet: share it with %s as an editor (Share button in the sheet)", client.Email()))
	} else {
		fmt.Fprintln(w, "  the service account can write")
	}
	tab, ok := ss.Sheet(s.Sheet)
	if !ok {
		var names []string
		for _, p := range ss.Sheets {
			names = append(names, strconv.Quote(p.Title))
		}
		fmt.Fprintf(w, "  tab %q does not exist yet: paysync creates it, with the header row, on the first delivery (tabs now: %s)\n", s.Sheet, strings.Join(names, ", "))
		return problems, nil
	}
	vrs, err := client.BatchGet(ctx, []string{QuoteSheet(tab.Title) + "!1:1"})
	if err != nil {
		return nil, Classify(err)
	}
	var header []string
	if len(vrs[0].Values) > 0 {
		for _, v := range vrs[0].Values[0] {
			header = append(header, strings.TrimSpace(fmt.Sprint(v)))
		}
	}
	fields := m.Fields()
	if len(header) == 0 {
		fmt.Fprintf(w, "  tab %q (gid %d) has no header row yet: paysync writes it on the first delivery: %s\n", tab.Title, tab.SheetID, strings.Join(fields, ", "))
		return problems, nil
	}
	headers := map[string]bool{}
	var cols, own []string
	for i, h := range header {
		if h == "" {
			continue
		}
		headers[h] = true
		cols = append(cols, ColumnName(i+1)+" "+h)
		if !contains(fields, h) {
			own = append(own, h)
		}
	}
	fmt.Fprintf(w, "  tab %q (gid %d), header row: %s\n", tab.Title, tab.SheetID, strings.Join(cols, ", "))
	if len(own) > 0 {
		fmt.Fprintf(w, "  columns the mapping does not name, left alone: %s\n", strings.Join(own, ", "))
	}
	if !headers[s.KeyColumn] {
		fmt.Fprintf(w, "  the key column %q is missing: deliveries pause until it is back in row 1 (paysync finds each order's row by it)\n", s.KeyColumn)
	}
	missing := missingColumns(m, headers)
	if len(missing) > 0 && len(own) > 0 {
		fmt.Fprintf(w, "  if a column was renamed (to %s?), rename it back in row 1 or rename it in mapping/sheets.yaml too\n", strings.Join(own, ", "))
	}
	return append(problems, missing...), nil
}

// missingColumns reports each entity field of m that is no header of row 1.
func missingColumns(m *mapping.Mapping, headers map[string]bool) []string {
	var out []string
	for _, f := range m.EntityFieldsAt() {
		if !headers[f.Value] {
			out = append(out, m.Problem(f.Pos, "column %q is not in the sheet's header row: add it to row 1, or remove it from entity", f.Value))
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// recordURL opens the order's row in Google Sheets. With another endpoint
// (the sandbox) the link goes to the same path there, which the sandbox
// serves.
func recordURL(st connectors.Settings, link core.CRMLink) string {
	s, ok := st.(*Settings)
	row, err := strconv.Atoi(link.ExternalID)
	if !ok || s.SpreadsheetID == "" || err != nil || row < 1 {
		return ""
	}
	var ld LinkData
	_ = json.Unmarshal([]byte(link.Data), &ld)
	base := "https://docs.google.com/"
	if s.Endpoint != "" && strings.TrimRight(s.Endpoint, "/") != strings.TrimRight(DefaultEndpoint, "/") {
		u, err := url.Parse(s.Endpoint)
		if err != nil || u.Host == "" {
			return ""
		}
		base = u.Scheme + "://" + u.Host + strings.TrimRight(u.Path, "/") + "/"
	}
	return fmt.Sprintf("%sspreadsheets/d/%s/edit#gid=%d&range=A%d", base, url.PathEscape(s.SpreadsheetID), ld.SheetID, row)
}
