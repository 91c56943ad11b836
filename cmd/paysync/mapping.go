package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/httpapi"
	"github.com/paysync/paysync/mapping"
)

func init() {
	register(command{
		name:  "mapping render",
		usage: "print, as JSON, what a connector would send for an order (--connector NAME --order FILE.json)",
		run:   runMappingRender,
	})
	register(command{
		name:  "mapping export",
		usage: "write the built-in mapping files out for editing (--dir DIR, default ./mapping; --force overwrites)",
		run:   runMappingExport,
	})
}

// runMappingExport writes the mapping files built into the binary, so that
// a shop running the binary alone can edit them. Existing files are never
// overwritten without --force: they are usually someone's edits.
func runMappingExport(_ context.Context, env *cmdEnv, args []string) error {
	set := env.bareFlags("mapping export")
	dir := set.String("dir", "mapping", "folder to write <connector>.yaml into, created if missing (serve reads ./mapping by default; else set mapping_dir)")
	only := set.String("connector", "", "only this connector's file: "+strings.Join(connectors.WithMapping(connectors.Names()), ", "))
	force := set.Bool("force", false, "overwrite files that exist")
	if err := set.Parse(args); err != nil {
		return err
	}
	if set.NArg() > 0 {
		set.Usage()
		return &exitError{code: 2, msg: "paysync mapping export: unexpected " + strings.Join(set.Args(), " ")}
	}
	names := connectors.WithMapping(connectors.Names())
	if *only != "" {
		names = []string{*only}
	}
	files := map[string][]byte{}
	var exist []string
	for _, n := range names {
		data, err := mapping.ShippedFile(n)
		if err != nil {
			return &exitError{code: 2, msg: "paysync mapping export: " + err.Error()}
		}
		path := filepath.Join(*dir, n+".yaml")
		files[path] = data
		if _, err := os.Stat(path); err == nil {
			exist = append(exist, path)
		}
	}
	if len(exist) > 0 && !*force {
		// Nothing is written: half an export is harder to reason about.
		return &exitError{code: 1, msg: "paysync mapping export: " + strings.Join(exist, ", ") + " already exist; nothing written (--force overwrites them)"}
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return &exitError{code: 1, msg: "paysync mapping export: " + err.Error()}
	}
	for _, n := range names {
		path := filepath.Join(*dir, n+".yaml")
		if err := writeMappingFile(path, files[path], *force); err != nil {
			return &exitError{code: 1, msg: "paysync mapping export: " + err.Error()}
		}
		fmt.Fprintf(env.stdout, "wrote %s\n", path)
	}
	fmt.Fprintf(env.stdout, "edit them, then run paysync config check (with mapping_dir: %s, or PAYSYNC_MAPPING_DIR=%s, unless that is ./mapping)\n", *dir, *dir)
	return nil
}

// writeMappingFile creates path, failing if it exists unless force (O_EXCL,
// so that a file made since the check above is not overwritten either).
func writeMappingFile(path string, data []byte, force bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func runMappingRender(_ context.Context, env *cmdEnv, args []string) error {
	set := env.flags("mapping render")
	connector := set.String("connector", "", "connector whose mapping to use: "+strings.Join(connectors.WithMapping(connectors.Names()), ", "))
	orderFile := set.String("order", "", "order as the HTTP API returns it (GET /v1/orders/{id} answer or the bare order), or the body of POST /v1/orders (rendered as the new pending order); - reads stdin")
	dir := set.String("dir", "mapping", "directory holding <connector>.yaml")
	if err := set.Parse(args); err != nil {
		return err
	}
	if *connector == "" || *orderFile == "" || set.NArg() > 0 {
		set.Usage()
		return &exitError{code: 2, msg: "paysync mapping render: --connector and --order are required"}
	}
	dirSet := false
	set.Visit(func(f *flag.Flag) { dirSet = dirSet || f.Name == "dir" })

	m, err := mapping.LoadFile(filepath.Join(*dir, *connector+".yaml"))
	if errors.Is(err, os.ErrNotExist) && !dirSet {
		// Run outside the source tree: use the copy built into the binary.
		fmt.Fprintf(env.stderr, "paysync: %s not found; using the built-in %s mapping\n", filepath.Join(*dir, *connector+".yaml"), *connector)
		m, err = mapping.Shipped(*connector)
	}
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	in, err := readRenderInput(*orderFile, time.Now().UTC())
	if err != nil {
		return err
	}
	p, err := m.Render(in)
	if err != nil {
		return &exitError{code: 1, msg: err.Error()}
	}
	out, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(env.stdout, "%s\n", out)
	return err
}

// readRenderInput accepts the bare order or the GET /v1/orders/{id} answer,
// whose journal supplies the transitions that become notes, or the body of
// POST /v1/orders, read by the API's own decoder and made into the pending
// order the API would store (now, with the default expiry). A bare or new
// order gets one transition to its current status, so that its note shows
// too.
func readRenderInput(name string, now time.Time) (mapping.Input, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return mapping.Input{}, err
	}
	var probe struct {
		Order   json.RawMessage     `json:"order"`
		Status  json.RawMessage     `json:"status"`
		Journal []core.JournalEntry `json:"journal"`
	}
	// The first value says which shape it is; what may follow it is for
	// the shape's own reading to refuse.
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&probe); err != nil {
		return mapping.Input{}, fmt.Errorf("%s: %w", name, err)
	}
	var in mapping.Input
	switch {
	case len(probe.Order) == 0 && len(probe.Status) == 0:
		// No status: the body of POST /v1/orders.
		var req httpapi.CreateOrderRequest
		if err := httpapi.DecodeJSON(data, &req); err != nil {
			return mapping.Input{}, fmt.Errorf("%s: not an order nor a POST /v1/orders body: %s", name, core.ErrorMessage(err))
		}
		o, err := req.Order(now)
		if err == nil {
			o, err = core.NewOrder(o, now, config.Defaults().DefaultExpiresIn.D())
		}
		if err != nil {
			return mapping.Input{}, fmt.Errorf("%s: POST /v1/orders would refuse this body: %s", name, core.ErrorMessage(err))
		}
		in.Order = o
	default:
		if err := json.Unmarshal(data, &probe); err != nil {
			return mapping.Input{}, fmt.Errorf("%s: %w", name, err)
		}
		orderJSON := data
		if len(probe.Order) > 0 {
			orderJSON = probe.Order
		}
		dec := json.NewDecoder(bytes.NewReader(orderJSON))
		dec.UseNumber() // delivery numbers stay exact, never floats
		if err := dec.Decode(&in.Order); err != nil {
			return mapping.Input{}, fmt.Errorf("%s: not an order: %w", name, err)
		}
		if in.Order.ID == "" || in.Order.Status == "" {
			return mapping.Input{}, fmt.Errorf("%s: not an order: order_id and status are required", name)
		}
	}
	for _, e := range probe.Journal {
		if e.StatusAfter != "" {
			in.Transitions = append(in.Transitions, e)
		}
	}
	if len(probe.Order) == 0 {
		in.Transitions = []core.JournalEntry{{
			OrderID: in.Order.ID, StatusAfter: in.Order.Status, Reason: in.Order.Reason, CreatedAt: in.Order.StatusChangedAt,
		}}
	}
	return in, nil
}
