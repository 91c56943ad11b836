package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/paysync/paysync/core"
)

func init() {
	register(command{name: "review", usage: "review ID --decision paid|failed --note TEXT: settle an order in manual_review", run: runReview})
}

func runReview(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("review")
	decision := fs.String("decision", "", "paid or failed")
	note := fs.String("note", "", "why, for the journal (required)")
	asJSON := fs.Bool("json", false, "print the order as the HTTP API does")
	id, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	var missing []string
	if id == "" {
		missing = append(missing, "the order id")
	}
	if *decision == "" {
		missing = append(missing, "--decision paid|failed")
	}
	if *note == "" {
		missing = append(missing, "--note TEXT (why, for the journal)")
	}
	if len(missing) > 0 {
		return &exitError{code: 2, msg: "paysync review: missing " + strings.Join(missing, ", ") + "\nusage: paysync review ID --decision paid|failed --note TEXT"}
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	who := "cli"
	if u := os.Getenv("USER"); u != "" {
		who = "cli:" + u
	}
	o, err := a.ledger.Review(ctx, id, core.Status(*decision), *note, who)
	if err != nil {
		return userError("review", err)
	}
	if *asJSON {
		return printJSON(env.stdout, o)
	}
	fmt.Fprintf(env.stdout, "order %s is now %s\n", o.ID, o.Status)
	return nil
}
