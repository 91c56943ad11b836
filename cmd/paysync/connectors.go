package main

import (
	"context"
	"fmt"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

func init() {
	register(command{name: "connectors check", usage: "compare each mapping with the live CRM account and list the ids a mapping needs", run: runConnectorsCheck})
}

func runConnectorsCheck(ctx context.Context, env *cmdEnv, args []string) error {
	if err := env.flags("connectors check").Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	conns := a.cfg.EnabledConnectors()
	if len(conns) == 0 {
		return &exitError{code: 2, msg: "no connector is enabled: set PAYSYNC_BITRIX24_WEBHOOK_URL (or another connector's credentials) first"}
	}
	maps, err := mapping.LoadDir(mappingDir(a.cfg), connectors.WithMapping(conns))
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	problems := 0
	for _, name := range conns {
		spec, _ := connectors.Lookup(name)
		m := maps[name]
		if spec.Check == nil {
			fmt.Fprintf(env.stdout, "%s: no account check in this release\n", spec.Title)
			continue
		}
		fmt.Fprintf(env.stdout, "%s (%s):\n", spec.Title, m.File())
		deps := connectors.Deps{Settings: a.cfg.Connectors[name], Store: a.store, Owner: replicaID(), Logger: a.log}
		probs, err := spec.Check(ctx, deps, m, env.stdout)
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: cannot read the account: %s\n", name, core.ClassifyDelivery(err).Error())
			problems++
			continue
		}
		for _, p := range probs {
			fmt.Fprintln(env.stderr, p)
		}
		problems += len(probs)
	}
	if problems > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d problem(s): fix the mapping or the account as each line says", problems)}
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}
