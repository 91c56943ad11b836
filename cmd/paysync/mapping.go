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

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

func init() {
	register(command{
		name:  "mapping render",
		usage: "print, as JSON, what a connector would send for an order (--connector NAME --order FILE.json)",
		run:   runMappingRender,
	})
}

func runMappingRender(_ context.Context, env *cmdEnv, args []string) error {
	set := env.flags("mapping render")
	connector := set.String("connector", "", "connector whose mapping to use: "+strings.Join(connectors.WithMapping(connectors.Names()), ", "))
	orderFile := set.String("order", "", "order as the HTTP API returns it (GET /v1/orders/{id} answer or the bare order); - reads stdin")
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
	in, err := readRenderInput(*orderFile)
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
// whose journal supplies the transitions that become notes. A bare order gets
// one transition to its current status, so that its note shows too.
func readRenderInput(name string) (mapping.Input, error) {
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
		Journal []core.JournalEntry `json:"journal"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		return mapping.Input{}, fmt.Errorf("%s: %w", name, err)
	}
	orderJSON := data
	if len(probe.Order) > 0 {
		orderJSON = probe.Order
	}
	var in mapping.Input
	dec := json.NewDecoder(bytes.NewReader(orderJSON))
	dec.UseNumber() // delivery numbers stay exact, never floats
	if err := dec.Decode(&in.Order); err != nil {
		return mapping.Input{}, fmt.Errorf("%s: not an order: %w", name, err)
	}
	if in.Order.ID == "" || in.Order.Status == "" {
		return mapping.Input{}, fmt.Errorf("%s: not an order: order_id and status are required", name)
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
