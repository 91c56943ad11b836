package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/paysync/paysync/core"
)

// The users and tokens groups: people's logins and the API tokens of
// chatbots and sites. Like migrate, they work on the configured database
// while serve runs. A secret they make is printed once, as the last line.
func init() {
	register(command{name: "users add", usage: "add a person: NAME --role owner|manager|viewer [--invite]; prints the one-time password (or invite link) last", run: runUsersAdd})
	register(command{name: "users list", usage: "list the people, their roles and last logins [--json]", run: runUsersList})
	register(command{name: "users disable", usage: "disable NAME: their sessions end and their tokens stop working (--enable undoes it)", run: runUsersDisable})
	register(command{name: "users passwd", usage: "give NAME a new one-time password and end their sessions; prints it last", run: runUsersPasswd})
	register(command{name: "tokens add", usage: "add an API token: --user NAME --scope orders:create[,orders:read|admin]; prints it once, last", run: runTokensAdd})
	register(command{name: "tokens list", usage: "list API tokens with their scopes and last use [--user NAME] [--json]", run: runTokensList})
	register(command{name: "tokens revoke", usage: "revoke the API token ID for good", run: runTokensRevoke})
}

func runUsersAdd(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("users add")
	role := fs.String("role", "", "owner (everything, people, settings), manager (orders and links) or viewer (looks up)")
	invite := fs.Bool("invite", false, "print a one-time invite link (valid 7 days) instead of a password")
	pos, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *role == "" {
		return &exitError{code: 2, msg: "usage: paysync users add NAME --role owner|manager|viewer [--invite]"}
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	acc, secret, err := a.people.AddAccount(ctx, pos[0], core.Role(*role), *invite)
	if err != nil {
		return userError("users add", err)
	}
	if *invite {
		fmt.Fprintf(env.stdout, "added %s (%s); send them this one-time link to choose their password (valid 7 days):\n", acc.Name, acc.Role)
		fmt.Fprintln(env.stdout, publicURL(a.cfg)+"/ui/invite/"+secret)
		return nil
	}
	fmt.Fprintf(env.stdout, "added %s (%s); their one-time password, to be changed at the first login:\n", acc.Name, acc.Role)
	fmt.Fprintln(env.stdout, secret)
	return nil
}

func runUsersList(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("users list")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	accs, err := a.store.ListAccounts(ctx)
	if err != nil {
		return userError("users list", err)
	}
	if *asJSON {
		if accs == nil {
			accs = []core.Account{}
		}
		return json.NewEncoder(env.stdout).Encode(map[string]any{"users": accs})
	}
	if len(accs) == 0 {
		fmt.Fprintln(env.stdout, "nobody yet: paysync users add NAME --role owner|manager|viewer")
		return nil
	}
	p := printer(a.cfg)
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tLAST LOGIN\tADDED")
	for _, acc := range accs {
		state := "active"
		switch {
		case acc.Disabled:
			state = "disabled"
		case acc.PasswordHash == "":
			state = "invited"
		case acc.MustChange:
			state = "one-time password"
		}
		last := "never"
		if acc.LastLoginAt != nil {
			last = p.Time(*acc.LastLoginAt)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", acc.Name, acc.Role, state, last, p.Time(acc.CreatedAt))
	}
	return tw.Flush()
}

func runUsersDisable(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("users disable")
	enable := fs.Bool("enable", false, "enable the account again instead")
	pos, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "usage: paysync users disable NAME [--enable]"}
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	acc, err := a.people.SetDisabled(ctx, pos[0], !*enable)
	if err != nil {
		return userError("users disable", err)
	}
	if *enable {
		fmt.Fprintf(env.stdout, "%s is enabled again\n", acc.Name)
		return nil
	}
	fmt.Fprintf(env.stdout, "%s is disabled: their sessions ended and their API tokens no longer work\n", acc.Name)
	return nil
}

func runUsersPasswd(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("users passwd")
	pos, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &exitError{code: 2, msg: "usage: paysync users passwd NAME"}
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	pw, err := a.people.ResetPassword(ctx, pos[0])
	if err != nil {
		return userError("users passwd", err)
	}
	fmt.Fprintf(env.stdout, "every session of %s ended; their new one-time password, to be changed at the next login:\n", pos[0])
	fmt.Fprintln(env.stdout, pw)
	return nil
}

func runTokensAdd(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("tokens add")
	user := fs.String("user", "", "the person the token acts as (its scopes must be within their role)")
	scope := fs.String("scope", "", "comma-separated: orders:create (POST /v1/orders), orders:read (look orders up), admin (everything)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *user == "" || *scope == "" {
		return &exitError{code: 2, msg: "usage: paysync tokens add --user NAME --scope orders:create[,orders:read]"}
	}
	scopes, err := core.ParseScopes(*scope)
	if err != nil {
		return userError("tokens add", err)
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	tok, t, err := a.people.AddToken(ctx, *user, scopes)
	if err != nil {
		return userError("tokens add", err)
	}
	fmt.Fprintf(env.stdout, "token %d for %s (%s); it is shown this once: send it as Authorization: Bearer\n", t.ID, t.Account, *scope)
	fmt.Fprintln(env.stdout, tok)
	return nil
}

func runTokensList(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("tokens list")
	user := fs.String("user", "", "only this person's tokens")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	var id int64
	if *user != "" {
		acc, err := a.store.GetAccount(ctx, *user)
		if err != nil {
			return userError("tokens list", err)
		}
		id = acc.ID
	}
	toks, err := a.store.ListTokens(ctx, id)
	if err != nil {
		return userError("tokens list", err)
	}
	if *asJSON {
		if toks == nil {
			toks = []core.APIToken{}
		}
		return json.NewEncoder(env.stdout).Encode(map[string]any{"tokens": toks})
	}
	if len(toks) == 0 {
		fmt.Fprintln(env.stdout, "no API tokens: paysync tokens add --user NAME --scope orders:create")
		return nil
	}
	p := printer(a.cfg)
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tSCOPES\tSTARTS WITH\tLAST USED\tADDED\tSTATE")
	for _, t := range toks {
		scopes := make([]string, len(t.Scopes))
		for i, s := range t.Scopes {
			scopes[i] = string(s)
		}
		last, state := "never", "active"
		if t.LastUsedAt != nil {
			last = p.Time(*t.LastUsedAt)
		}
		if t.RevokedAt != nil {
			state = "revoked " + p.Time(*t.RevokedAt)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s…\t%s\t%s\t%s\n", t.ID, t.Account, strings.Join(scopes, ","), t.Prefix, last, p.Time(t.CreatedAt), state)
	}
	return tw.Flush()
}

func runTokensRevoke(ctx context.Context, env *cmdEnv, args []string) error {
	fs := env.flags("tokens revoke")
	pos, err := parseWithID(fs, args)
	if err != nil {
		return err
	}
	var id int64
	if len(pos) == 1 {
		id, err = strconv.ParseInt(pos[0], 10, 64)
	}
	if len(pos) != 1 || err != nil {
		return &exitError{code: 2, msg: "usage: paysync tokens revoke ID (paysync tokens list shows the ids)"}
	}
	a, err := openApp(ctx, env)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.store.RevokeToken(ctx, id, a.people.Clock()); err != nil {
		return userError("tokens revoke", err)
	}
	a.log.Info("API token revoked", "token_id", id)
	fmt.Fprintf(env.stdout, "token %d is revoked\n", id)
	return nil
}
