package restclient

import (
	"bytes"
	"encoding/json"
	"strings"
)

// FlexString reads a JSON string or number as text: gateways send codes
// such as errorCode or ResponseCode as either, depending on the method or
// the version (RBS's errorCode; Ameriabank's ResponseCode, an integer from
// InitPayment and a string everywhere else). null reads as "".
type FlexString string

func (f *FlexString) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(strings.TrimSpace(s))
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = FlexString(n.String())
	return nil
}
