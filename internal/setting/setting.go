// Package setting holds the value types of paysync's settings: a Secret that
// never prints and a Duration that reads "3d". It is a leaf: the config
// loader, the connectors and the providers all declare their settings with
// these types, and none of them has to import another to do so.
package setting

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Secret is a credential (a token, key, password or webhook URL). It never
// prints: fmt, YAML and JSON show "[redacted]" (or "" when unset), so that a
// settings struct can be logged or shown whole. string(s) is the value, for
// the one place that uses it.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// MarshalYAML keeps secrets out of printed config.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON keeps secrets out of JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Duration reads "90s", "24h", "3d".
type Duration time.Duration

// UnmarshalText reads a duration; one that does not read leaves d as it
// was (its default), so that the mistake is reported once, as itself.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reports a bad duration with its line and lets decoding go
// on, so that every problem of a file is reported at once.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ParseDuration is time.ParseDuration plus a "d" (day) unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q: use forms like 90s, 15m, 24h or 3d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: use forms like 90s, 15m, 24h or 3d", s)
	}
	return d, nil
}

// ByteSize reads "32MiB", "512KiB", "1GiB", "64MB" or a plain number of bytes.
type ByteSize int64

func (b *ByteSize) UnmarshalText(t []byte) error {
	v, err := ParseByteSize(string(t))
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// UnmarshalYAML reports a bad size with its line, like Duration.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if err := b.UnmarshalText([]byte(n.Value)); err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	return nil
}

func (b ByteSize) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// String prints the size in the largest binary unit that divides it.
func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if u.n > 1 && int64(b) != 0 && int64(b)%u.n == 0 {
			return strconv.FormatInt(int64(b)/u.n, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

var byteUnits = []struct {
	name string
	n    int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}

// ParseByteSize reads a size such as "32MiB" (binary units KiB, MiB, GiB;
// decimal KB, MB, GB; B or none for bytes).
func ParseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	for _, u := range byteUnits {
		if num, ok := strings.CutSuffix(t, u.name); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n < 0 || n > (1<<62)/u.n {
				break
			}
			return n * u.n, nil
		}
	}
	if n, err := strconv.ParseInt(t, 10, 64); err == nil && n >= 0 {
		return n, nil
	}
	return 0, fmt.Errorf("bad size %q: use forms like 32MiB, 512KiB or 1GiB", s)
}
