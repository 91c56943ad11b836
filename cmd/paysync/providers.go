package main

import (
	"context"
	"fmt"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/providers"
)

func init() {
	register(command{name: "providers check", usage: "ask each enabled payment provider whether paysync's credentials work", run: runProvidersCheck})
}

func runProvidersCheck(ctx context.Context, env *cmdEnv, args []string) error {
	if err := env.flags("providers check").Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	names := a.cfg.EnabledProviders()
	if len(names) == 0 {
		return &exitError{code: 2, msg: "no payment provider is enabled: set " + providers.EnableHint() + " first"}
	}
	problems := 0
	for _, name := range names {
		spec, _ := providers.Lookup(name)
		if spec.Check == nil {
			fmt.Fprintf(env.stdout, "%s: no account check in this release\n", spec.Title)
			continue
		}
		fmt.Fprintf(env.stdout, "%s:\n", spec.Title)
		deps := providers.Deps{Settings: a.cfg.Providers[name], PublicURL: publicURL(a.cfg), Store: a.store, Logger: a.log}
		probs, err := spec.Check(ctx, deps, env.stdout)
		if err != nil {
			fmt.Fprintf(env.stderr, "%s: cannot ask the provider: %s\n", name, core.ErrorMessage(err))
			problems++
			continue
		}
		for _, p := range probs {
			fmt.Fprintln(env.stderr, p)
		}
		problems += len(probs)
	}
	if problems > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d problem(s): fix the settings or the account as each line says", problems)}
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}
