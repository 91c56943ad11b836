package recorded

import (
	"strings"
	"testing"
)

func TestSameShape(t *testing.T) {
	doc := `{"result":{"CONTACT":[275,2297]},"time":{"start":1.5,"operating_reset_at":1750684660},"next":null,"empty":[]}`
	for _, tc := range []struct {
		got  string
		want []string // substrings of the differences, none when it matches
	}{
		{`{"result":{"CONTACT":[1]},"time":{"start":2,"operating_reset_at":3,"extra":true},"next":5,"empty":{"a":1}}`, nil},
		{`{"result":{"CONTACT":["1"]},"time":{"start":2,"operating_reset_at":3},"empty":[]}`, []string{`$.result.CONTACT[0]: documented number, the double answers string`}},
		{`{"result":{},"time":{"start":2},"empty":[]}`, []string{"$.result.CONTACT: documented, missing", "$.time.operating_reset_at: documented, missing"}},
		{`[]`, []string{"$: documented object, the double answers array"}},
	} {
		got := strings.Join(SameShape([]byte(doc), []byte(tc.got)), "\n")
		if (got == "") != (len(tc.want) == 0) {
			t.Errorf("%s: differences %q, want %v", tc.got, got, tc.want)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: %q lacks %q", tc.got, got, w)
			}
		}
	}
}
