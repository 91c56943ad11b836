package mapping

import (
	"slices"
	"strings"

	"github.com/paysync/paysync/internal/registry"
)

// Profile is what a connector tells this package about its mapping file.
// Connectors register theirs through package connectors (Spec.Mapping); a
// file declaring a connector with no registered profile does not load, so
// mapping knows the connectors only through that registry.
type Profile struct {
	// Connector is the name a file declares (`connector:`) and is named
	// after (<connector>.yaml).
	Connector string
	// Record is what entity describes in the CRM, for load errors: "deal",
	// "lead", "row (header names)". Empty reads "CRM".
	Record string
	// NoContact, when set, says why the connector takes no contact section
	// ("a row holds the customer's columns itself"); a file with one fails
	// to load with this reason.
	NoContact string
	// Messages marks a connector that sends the customer a message per
	// payment status (Instagram Direct) instead of keeping a record up to
	// date: its file has no entity, contact, tags or stages, lists the
	// languages its messages are written in under `languages`, and gives
	// each status a `message` (a text per language, or null for none).
	Messages bool
}

var profiles = registry.New[Profile]("mapping profile")

// RegisterProfile adds a connector's profile. It panics on an empty name and
// on a second profile for a name: both are programming errors found at start.
func RegisterProfile(p Profile) {
	if p.Connector == "" {
		panic("mapping: RegisterProfile needs Connector")
	}
	profiles.Add(p.Connector, p)
}

// UnregisterProfile removes a connector's profile; tests that register a
// connector of their own remove it when they end.
func UnregisterProfile(connector string) { profiles.Remove(connector) }

// LookupProfile returns the profile of connector.
func LookupProfile(connector string) (Profile, bool) { return profiles.Get(connector) }

// Profiles lists every registered profile, sorted by connector.
func Profiles() []Profile { return profiles.All() }

// knownConnectors lists the registered connectors for an error message.
func knownConnectors() string {
	ps := Profiles()
	if len(ps) == 0 {
		return "none"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Connector
	}
	return strings.Join(names, ", ")
}

// ShippedConnectors lists the connectors whose mapping files are built into
// the binary (mapping/<connector>.yaml of this release), sorted.
func ShippedConnectors() []string {
	names := filesIn("")
	slices.Sort(names)
	return names
}
