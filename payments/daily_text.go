package payments

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/paysync/paysync/core"
)

// findingOrder is the order findings are printed in: what needs a person first.
var findingOrder = []string{core.FindingUnknown, core.FindingMismatch, core.FindingMissingAtBank, core.FindingRecovered,
	core.FindingInReview, core.FindingFlaggedBefore, core.FindingMatched}

// FindingTitle says a finding in a few words, for people.
func FindingTitle(finding string) string {
	switch finding {
	case core.FindingUnknown:
		return "paid at the bank, not here (now in manual_review)"
	case core.FindingMismatch:
		return "other amount or currency (now in manual_review)"
	case core.FindingMissingAtBank:
		return "paid here, not listed by the bank"
	case core.FindingRecovered:
		return "paid at the bank, the webhook never came (applied now)"
	case core.FindingInReview:
		return "already in manual_review"
	case core.FindingFlaggedBefore:
		return "flagged before, settled by a person"
	case core.FindingMatched:
		return "matched"
	}
	return finding
}

// WriteReport writes a report for people: the day, the totals on both
// sides, then each finding that needs a look, one order a line. title is
// the provider's name for people ("ArCa"), zone the shop's time zone.
func WriteReport(w io.Writer, r core.ReconcileReport, title string, zone *time.Location) {
	fmt.Fprintf(w, "%s, %s (%s to %s)\n", title, r.Day, r.From.In(zone).Format("2006-01-02 15:04 -07:00"), r.To.In(zone).Format("2006-01-02 15:04 -07:00"))
	if r.Error != "" {
		fmt.Fprintf(w, "  NOT RECONCILED: %s\n", r.Error)
		return
	}
	fmt.Fprintf(w, "  bank:    %d payment(s), %s\n", r.BankCount, totals(r.BankTotals))
	fmt.Fprintf(w, "  paysync: %s paid that day\n", totals(r.PaysyncTotals))
	for _, f := range findingOrder {
		n := r.Count(f)
		if n == 0 {
			continue
		}
		fmt.Fprintf(w, "  %-16s %4d  %s\n", f, n, FindingTitle(f))
		if f == core.FindingMatched || f == core.FindingFlaggedBefore {
			continue
		}
		for _, l := range r.Lines {
			if l.Finding != f {
				continue
			}
			fmt.Fprintf(w, "    %s", l.OrderID)
			if l.BankCurrency != "" {
				fmt.Fprintf(w, "  bank %s", core.Money{AmountMinor: l.BankAmountMinor, Currency: l.BankCurrency})
			}
			if l.OrderCurrency != "" {
				fmt.Fprintf(w, "  order %s", core.Money{AmountMinor: l.OrderAmountMinor, Currency: l.OrderCurrency})
			}
			if l.OrderStatus != "" {
				fmt.Fprintf(w, "  %s", l.OrderStatus)
			}
			if l.ProviderRef != "" {
				fmt.Fprintf(w, "  ref %s", l.ProviderRef)
			}
			fmt.Fprintln(w)
		}
	}
	if r.Clean() {
		fmt.Fprintln(w, "  clean: the bank's day and paysync's agree")
	} else {
		fmt.Fprintln(w, "  NEEDS A LOOK: settle the orders in manual_review (console or `paysync review`) and check the ones the bank does not list")
	}
}

func totals(m map[string]int64) string {
	if len(m) == 0 {
		return "nothing"
	}
	curs := make([]string, 0, len(m))
	for c := range m {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	parts := make([]string, len(curs))
	for i, c := range curs {
		parts[i] = core.Money{AmountMinor: m[c], Currency: c}.String()
	}
	return strings.Join(parts, " + ")
}
