package core_test

import (
	"strings"
	"testing"

	"github.com/paysync/paysync/core"
)

// What managers type finds the order, whichever form the phone was stored in.
func TestSearchFindsWhatPeopleType(t *testing.T) {
	t.Parallel()
	stored := []core.Order{
		{ID: "IG-1002", Customer: core.Customer{Handle: "@Aram_Style", Name: "Aram Petrosyan", Phone: "091 000 102"}},
		{ID: "IG-1003", Customer: core.Customer{Name: "Игорь Морозов", Phone: "+374 (91) 000-103"}},
		{ID: "IG-1004", Customer: core.Customer{Name: "Անի Սարգսյան", Phone: "0037491000104"}},
	}
	for _, c := range []struct {
		q    string
		want string
	}{
		{"000102", "IG-1002"}, {"091000102", "IG-1002"}, {"+37491000102", "IG-1002"}, {"+374 91 000 102", "IG-1002"},
		{"91000102", "IG-1002"}, {"petrosyan", "IG-1002"}, {"PETROSYAN", "IG-1002"}, {"@aram_style", "IG-1002"}, {"aram_st", "IG-1002"},
		{"морозов", "IG-1003"}, {"МОРОЗОВ", "IG-1003"}, {"091 000 103", "IG-1003"},
		{"սարգսյան", "IG-1004"}, {"ՍԱՐԳՍՅԱՆ", "IG-1004"}, {"+37491000104", "IG-1004"}, {"ig-1004", "IG-1004"},
	} {
		var found []string
		for _, o := range stored {
			if strings.Contains(core.SearchText(o), core.SearchPattern(c.q)) {
				found = append(found, o.ID)
			}
		}
		if len(found) != 1 || found[0] != c.want {
			t.Errorf("%q found %v, want %s", c.q, found, c.want)
		}
	}
}
