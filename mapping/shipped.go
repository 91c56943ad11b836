package mapping

import (
	"embed"
	"fmt"
)

// shipped holds the mapping files of this directory, so that a binary run
// away from the source tree (demo, a container) still has working defaults.
//
//go:embed *.yaml
var shipped embed.FS

// loadShipped parses the built-in copy of <connector>.yaml.
func loadShipped(connector string) (*Mapping, error) {
	data, err := shipped.ReadFile(connector + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("mapping: no built-in mapping for connector %q", connector)
	}
	return Parse("mapping/"+connector+".yaml", data)
}

// Shipped returns the built-in mapping for connector, as shipped in mapping/<connector>.yaml.
func Shipped(connector string) (*Mapping, error) { return loadShipped(connector) }

// ShippedFile returns the built-in <connector>.yaml as it is shipped, for
// writing out and editing (paysync mapping export).
func ShippedFile(connector string) ([]byte, error) {
	data, err := shipped.ReadFile(connector + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("mapping: no built-in mapping for connector %q", connector)
	}
	return data, nil
}
