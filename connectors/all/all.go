// Package all links every CRM connector of this release into the binary:
// importing a connector package registers it (see package connectors).
// A new connector is one more line here.
package all

import (
	_ "github.com/paysync/paysync/connectors/amocrm"
	_ "github.com/paysync/paysync/connectors/bitrix24"
	_ "github.com/paysync/paysync/connectors/instagram"
	_ "github.com/paysync/paysync/connectors/sheets"
)
