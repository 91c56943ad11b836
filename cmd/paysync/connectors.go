package main

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/time/rate"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/connectors/bitrix24"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/mapping"
)

func init() {
	register(command{name: "connectors check", usage: "compare each mapping with the live CRM account and list the ids a mapping needs", run: runConnectorsCheck})
}

// bitrixClient builds the Bitrix24 client from the config; store keeps the
// rotated OAuth tokens (nil is fine for webhook auth).
func bitrixClient(cfg *config.Config, store core.Store) (*bitrix24.Client, error) {
	b := cfg.Connectors.Bitrix24
	c := bitrix24.Config{Rate: rate.Limit(b.RateLimit), Burst: b.Burst}
	if b.WebhookURL != "" {
		c.WebhookURL = string(b.WebhookURL)
	} else {
		c.OAuth = &bitrix24.OAuthConfig{ClientID: b.ClientID, ClientSecret: string(b.ClientSecret), TokenURL: b.OAuthURL,
			PortalURL: b.PortalURL, Store: bitrix24.StateTokenStore{Store: store}}
	}
	return bitrix24.New(c)
}

// sampleOrder is what connectors check renders to learn, e.g., the pipeline a mapping writes to.
func sampleOrder() core.Order {
	return core.Order{ID: "CHECK-1", Status: core.StatusPending, AmountMinor: 100, Currency: "AMD", Items: []core.Item{{Name: "x", Quantity: 1, PriceMinor: 100}}}
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
	maps, err := mapping.LoadDir(mappingDir(a.cfg), conns)
	if err != nil {
		return &exitError{code: 2, msg: err.Error()}
	}
	problems := 0
	for _, name := range conns {
		m := maps[name]
		w := env.stdout
		switch name {
		case "bitrix24":
			client, err := bitrixClient(a.cfg, a.store)
			if err != nil {
				return &exitError{code: 2, msg: "bitrix24: " + core.ErrorMessage(err)}
			}
			category := "0"
			if p, err := m.Render(mapping.Input{Order: sampleOrder()}); err == nil {
				if v, ok := p.Entity["CATEGORY_ID"]; ok {
					category = fmt.Sprint(v)
				}
			}
			acc, err := client.ReadAccount(ctx, category)
			if err != nil {
				fmt.Fprintf(env.stderr, "bitrix24: cannot read the portal: %s\n", core.ClassifyDelivery(err).Error())
				problems++
				continue
			}
			fmt.Fprintf(w, "bitrix24 (%s):\n", m.File())
			fmt.Fprintf(w, "  stages of pipeline %s: %s\n", category, strings.Join(acc.Stages, ", "))
			fmt.Fprintf(w, "  enabled currencies: %s\n", strings.Join(acc.Info.Currencies, ", "))
			if len(acc.UserFields) > 0 {
				fmt.Fprintf(w, "  deal user fields: %s\n", strings.Join(acc.UserFields, ", "))
			}
			probs := m.CheckAccount(acc.Info)
			for _, p := range probs {
				fmt.Fprintln(env.stderr, p)
			}
			problems += len(probs)
		default:
			fmt.Fprintf(w, "%s: no account check yet (its connector comes in a later release)\n", name)
		}
	}
	if problems > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d problem(s): fix the mapping or the account as each line says", problems)}
	}
	fmt.Fprintln(env.stdout, "ok")
	return nil
}
