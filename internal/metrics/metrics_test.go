package metrics_test

import (
	"github.com/paysync/paysync/connectors"
	"github.com/paysync/paysync/internal/metrics"
)

// A ConnectorMeter is what serve hands each connector as its Meter; the
// package itself does not import connectors (internal/ imports nothing above
// core), so this is where the two are held together.
var _ connectors.Meter = metrics.ConnectorMeter{}
