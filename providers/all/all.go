// Package all links every payment provider of this release into the
// binary: importing a provider package registers it (see package
// providers). A new provider is one more line here.
package all

import (
	_ "github.com/paysync/paysync/providers/ameria"
	_ "github.com/paysync/paysync/providers/arca"
	_ "github.com/paysync/paysync/providers/generic"
	_ "github.com/paysync/paysync/providers/idram"
	_ "github.com/paysync/paysync/providers/vpos"
)
