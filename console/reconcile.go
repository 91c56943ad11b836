package console

import (
	"net/http"
	"sort"
	"strings"

	"github.com/paysync/paysync/core"
	"github.com/paysync/paysync/present"
)

// maxReportsShown bounds the reports on the Reconciliation page;
// `paysync reconcile --date` shows any day.
const maxReportsShown = 30

type reconcileData struct {
	Reports   []reportView
	Available bool // the store keeps reports
}

type reportView struct {
	Provider, Day, RanAt, Error string
	Bank, Paysync               string
	BankCount                   int
	Clean                       bool
	Counts                      []findingCount
	Lines                       []lineView
}

type findingCount struct {
	Finding, Title string
	N              int
}

type lineView struct {
	Finding, Title, OrderID, OrderHref, Bank, Order, Status, Ref string
}

// lineFindings are the findings listed order by order (the rest are counted).
var lineFindings = map[string]bool{core.FindingUnknown: true, core.FindingMismatch: true, core.FindingMissingAtBank: true,
	core.FindingRecovered: true, core.FindingInReview: true}

var findingOrder = []string{core.FindingUnknown, core.FindingMismatch, core.FindingMissingAtBank, core.FindingRecovered,
	core.FindingInReview, core.FindingFlaggedBefore, core.FindingMatched}

// reconcilePage lists the latest daily reconciliation reports (the console
// opens with the admin token only).
func (c *Console) reconcilePage(w http.ResponseWriter, r *http.Request, s *session) {
	p := c.printer(r)
	var d reconcileData
	if rs, ok := c.opt.Store.(core.ReconcileStore); ok {
		d.Available = true
		reports, err := rs.ListReconcileReports(r.Context(), maxReportsShown)
		if err != nil {
			c.failErr(w, r, err)
			return
		}
		for _, rep := range reports {
			d.Reports = append(d.Reports, c.reportView(p, rep))
		}
	}
	c.render(w, http.StatusOK, "reconciliation", c.view(r, s, "reconcile", p.T("reconcile.title"), d))
}

func (c *Console) reportView(p present.Printer, rep core.ReconcileReport) reportView {
	v := reportView{Provider: c.providerTitle(rep.Provider), Day: rep.Day, RanAt: p.Time(rep.RanAt), Error: rep.Error,
		Bank: moneyTotals(p, rep.BankTotals), Paysync: moneyTotals(p, rep.PaysyncTotals), BankCount: rep.BankCount, Clean: rep.Clean()}
	for _, f := range findingOrder {
		if n := rep.Count(f); n > 0 {
			v.Counts = append(v.Counts, findingCount{Finding: f, Title: p.T("reconcile.finding." + f), N: n})
		}
	}
	for _, l := range rep.Lines {
		if !lineFindings[l.Finding] {
			continue
		}
		lv := lineView{Finding: l.Finding, Title: p.T("reconcile.finding." + l.Finding), OrderID: l.OrderID, OrderHref: orderHref(l.OrderID), Ref: l.ProviderRef}
		if l.BankCurrency != "" {
			lv.Bank = p.Money(l.BankAmountMinor, l.BankCurrency)
		}
		if l.OrderCurrency != "" {
			lv.Order = p.Money(l.OrderAmountMinor, l.OrderCurrency)
		}
		if l.OrderStatus != "" {
			lv.Status = p.Status(l.OrderStatus)
		}
		v.Lines = append(v.Lines, lv)
	}
	return v
}

func moneyTotals(p present.Printer, m map[string]int64) string {
	if len(m) == 0 {
		return "—"
	}
	curs := make([]string, 0, len(m))
	for cur := range m {
		curs = append(curs, cur)
	}
	sort.Strings(curs)
	parts := make([]string, len(curs))
	for i, cur := range curs {
		parts[i] = p.Money(m[cur], cur)
	}
	return strings.Join(parts, " + ")
}

func init() { present.Register(reconcileEN, reconcileRU, reconcileHY) }

var reconcileEN = map[string]string{
	"nav.reconcile":   "Reconciliation",
	"reconcile.title": "Reconciliation with the bank",
	"reconcile.intro": "Each night paysync asks the banks that list their transactions (ArCa, Ameriabank) for the day's payments and sets them beside its own orders. A payment the bank took that paysync never heard of becomes an order in review; another amount sends the order to review. Settle those under Needs review.",
	"reconcile.none":  "No reconciliation has run yet. It runs each morning, or by hand: paysync reconcile --date YYYY-MM-DD.",
	"reconcile.off":   "This database keeps no reconciliation reports.",
	"reconcile.day":   "%s, %s", "reconcile.ran": "checked %s",
	"reconcile.bank": "Bank: %d payment(s), %s", "reconcile.paysync": "paysync: %s paid that day",
	"reconcile.clean": "Clean: the bank's day and paysync's agree.", "reconcile.error": "Not reconciled: %s",
	"reconcile.col.finding": "Finding", "reconcile.col.order": "Order", "reconcile.col.bank": "Bank",
	"reconcile.col.paysync": "paysync", "reconcile.col.status": "Status now", "reconcile.col.ref": "Bank reference",
	"reconcile.finding.unknown":         "Paid at the bank, not here",
	"reconcile.finding.mismatch":        "Other amount or currency",
	"reconcile.finding.missing_at_bank": "Paid here, not listed by the bank",
	"reconcile.finding.recovered":       "Webhook lost, applied now",
	"reconcile.finding.in_review":       "Already in review",
	"reconcile.finding.flagged_before":  "Settled by a person",
	"reconcile.finding.matched":         "Matched",
}

var reconcileRU = map[string]string{
	"nav.reconcile":   "Сверка",
	"reconcile.title": "Сверка с банком",
	"reconcile.intro": "Каждую ночь paysync запрашивает у банков, которые отдают список операций (ArCa, Ameriabank), платежи за день и сверяет их со своими заказами. Платёж, который банк принял, а paysync о нём не знал, становится заказом на проверке; другая сумма отправляет заказ на проверку. Решите их в разделе «Требуют решения».",
	"reconcile.none":  "Сверка ещё не запускалась. Она идёт каждое утро или вручную: paysync reconcile --date YYYY-MM-DD.",
	"reconcile.off":   "Эта база данных не хранит отчёты сверки.",
	"reconcile.day":   "%s, %s", "reconcile.ran": "проверено %s",
	"reconcile.bank": "Банк: платежей %d, %s", "reconcile.paysync": "paysync: %s оплачено за день",
	"reconcile.clean": "Всё сходится: день банка и paysync совпадают.", "reconcile.error": "Не сверено: %s",
	"reconcile.col.finding": "Результат", "reconcile.col.order": "Заказ", "reconcile.col.bank": "Банк",
	"reconcile.col.paysync": "paysync", "reconcile.col.status": "Статус сейчас", "reconcile.col.ref": "Номер в банке",
	"reconcile.finding.unknown":         "Оплачено в банке, здесь нет",
	"reconcile.finding.mismatch":        "Другая сумма или валюта",
	"reconcile.finding.missing_at_bank": "Оплачено здесь, в банке нет",
	"reconcile.finding.recovered":       "Уведомление потерялось, учтено сейчас",
	"reconcile.finding.in_review":       "Уже на проверке",
	"reconcile.finding.flagged_before":  "Решено человеком",
	"reconcile.finding.matched":         "Сходится",
}

var reconcileHY = map[string]string{
	"nav.reconcile":   "Համադրում",
	"reconcile.title": "Համադրում բանկի հետ",
	"reconcile.intro": "Ամեն գիշեր paysync-ը գործարքների ցուցակ տրամադրող բանկերից (ArCa, Ameriabank) խնդրում է օրվա վճարումները և դրանք համեմատում իր պատվերների հետ։ Բանկի ընդունած վճարումը, որի մասին paysync-ը չգիտեր, դառնում է ստուգման պատվեր, իսկ այլ գումարը պատվերն ուղարկում է ստուգման։ Լուծեք դրանք «Պահանջում է որոշում» բաժնում։",
	"reconcile.none":  "Համադրումը դեռ չի աշխատել։ Այն աշխատում է ամեն առավոտ կամ ձեռքով՝ paysync reconcile --date YYYY-MM-DD։",
	"reconcile.off":   "Այս տվյալների բազան համադրման հաշվետվություններ չի պահում։",
	"reconcile.day":   "%s, %s", "reconcile.ran": "ստուգվել է %s",
	"reconcile.bank": "Բանկ՝ %d վճարում, %s", "reconcile.paysync": "paysync՝ %s վճարված այդ օրը",
	"reconcile.clean": "Ամեն ինչ համընկնում է․ բանկի և paysync-ի օրը նույնն են։", "reconcile.error": "Չի համադրվել՝ %s",
	"reconcile.col.finding": "Արդյունք", "reconcile.col.order": "Պատվեր", "reconcile.col.bank": "Բանկ",
	"reconcile.col.paysync": "paysync", "reconcile.col.status": "Կարգավիճակը հիմա", "reconcile.col.ref": "Բանկի համար",
	"reconcile.finding.unknown":         "Վճարված է բանկում, այստեղ չկա",
	"reconcile.finding.mismatch":        "Այլ գումար կամ արժույթ",
	"reconcile.finding.missing_at_bank": "Վճարված է այստեղ, բանկում չկա",
	"reconcile.finding.recovered":       "Ծանուցումը կորել էր, հաշվառվեց հիմա",
	"reconcile.finding.in_review":       "Արդեն ստուգման մեջ է",
	"reconcile.finding.flagged_before":  "Լուծված է մարդու կողմից",
	"reconcile.finding.matched":         "Համընկնում է",
}
