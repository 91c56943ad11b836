package amocrm_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/connectors/amocrm"
	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/internal/setting"
	"github.com/paysync/paysync/mapping"
)

func TestSettingsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(s *amocrm.Settings)
		keys []string // the keys reported, sorted
	}{
		{"long-lived", func(s *amocrm.Settings) { s.BaseURL, s.AccessToken = "https://shop.amocrm.ru", "t" }, nil},
		{"oauth", func(s *amocrm.Settings) {
			s.BaseURL, s.ClientID, s.ClientSecret, s.RefreshToken, s.RedirectURI = "https://shop.kommo.com", "id", "sec", "rt", "https://pay.example.am/amo"
		}, nil},
		{"no base url", func(s *amocrm.Settings) { s.AccessToken = "t" }, []string{"base_url"}},
		{"bad base url", func(s *amocrm.Settings) { s.BaseURL, s.AccessToken = "shop.amocrm.ru", "t" }, []string{"base_url"}},
		{"both", func(s *amocrm.Settings) {
			s.BaseURL, s.AccessToken, s.ClientID, s.ClientSecret, s.RefreshToken, s.RedirectURI = "https://shop.amocrm.ru", "t", "id", "sec", "rt", "https://x.am/r"
		}, []string{"access_token"}},
		{"half oauth", func(s *amocrm.Settings) { s.BaseURL, s.ClientID, s.RefreshToken = "https://shop.amocrm.ru", "id", "rt" }, []string{"client_secret", "redirect_uri"}},
		{"rate", func(s *amocrm.Settings) { s.BaseURL, s.AccessToken, s.RateLimit = "https://shop.amocrm.ru", "t", 8 }, []string{"rate_limit"}},
		{"order field", func(s *amocrm.Settings) { s.BaseURL, s.AccessToken, s.OrderFieldID = "https://shop.amocrm.ru", "t", -1 }, []string{"order_field_id"}},
	} {
		s := amocrm.DefaultSettings()
		tc.edit(s)
		var keys []string
		s.Validate(func(key, reason string) {
			keys = append(keys, key)
			if !strings.Contains(reason, "amo") && !strings.Contains(reason, "order") {
				t.Errorf("%s: reason %q does not say what to do", tc.name, reason)
			}
		})
		slices.Sort(keys)
		if !slices.Equal(keys, tc.keys) {
			t.Errorf("%s: reported %v, want %v", tc.name, keys, tc.keys)
		}
	}
}

func TestRegistration(t *testing.T) {
	t.Parallel()
	spec, ok := connectors.Lookup(amocrm.Name)
	if !ok || spec.Check == nil || spec.RecordURL == nil {
		t.Fatalf("amocrm registers %+v", spec)
	}
	s := &amocrm.Settings{BaseURL: "https://shop.amocrm.ru/", AccessToken: setting.Secret("t")}
	if got := spec.RecordURL(s, core.CRMLink{ExternalID: "10185151"}); got != "https://shop.amocrm.ru/leads/detail/10185151" {
		t.Fatalf("record URL %q", got)
	}
	// serve builds it from the settings without calling amoCRM.
	m := shippedMapping(t)
	c, err := spec.New(context.Background(), connectors.Deps{Settings: s, Mappings: mappingsOf{m}})
	if err != nil || c.Name() != amocrm.Name || c.MaxBatch() != 250 {
		t.Fatalf("New: %v %v", c, err)
	}
}

type mappingsOf struct{ m *mapping.Mapping }

func (s mappingsOf) Get(string) *mapping.Mapping { return s.m }
