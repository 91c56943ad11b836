package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// WriteTable prints the report as Markdown tables, readable in a terminal
// and ready for docs/benchmarks.md.
func (rep *Report) WriteTable(w io.Writer) {
	m := rep.Machine
	fmt.Fprintf(w, "paysync bench%s, %s: %d CPUs (%s), %s/%s, %s",
		map[bool]string{true: " --quick", false: ""}[rep.Quick], rep.StartedAt.Format("2006-01-02 15:04 MST"),
		m.CPUs, m.CPUModel, m.OS, m.Arch, m.Go)
	if len(m.LoadBefore) == 3 {
		fmt.Fprintf(w, ", load average %.2f %.2f %.2f", m.LoadBefore[0], m.LoadBefore[1], m.LoadBefore[2])
	}
	fmt.Fprintf(w, "; %.0f s\n", rep.Seconds)

	fmt.Fprintln(w, "\n1. Ingest: signed webhooks over HTTP, each answered after its commit, beside the baseline (the")
	fmt.Fprintln(w, "   same rows, one transaction per event, statement by statement through the driver, no HTTP)")
	fmt.Fprintln(w)
	t := table{"database", "clients", "webhooks/s", "p50 ms", "p99 ms", "baseline/s", "p50 ms", "p99 ms", "ratio", "goal"}
	rows := [][]string{}
	for _, r := range rep.Ingest {
		rows = append(rows, []string{r.Database, strconv.Itoa(r.Clients), num(r.PerSecond), dec(r.P50ms), dec(r.P99ms),
			num(r.BaselinePerSecond), dec(r.BaselineP50ms), dec(r.BaselineP99ms), fmt.Sprintf("%.2fx", r.Ratio),
			verdict(r.Met, fmt.Sprintf("≥ %.1fx", r.Goal))})
	}
	t.write(w, rows)
	if len(rep.IngestAtRate) > 0 {
		fmt.Fprintln(w)
		t = table{"database", "steady rate", "webhooks", "p50 ms", "p99 ms", "one-row inserts p99 ms", "goal"}
		rows = rows[:0]
		for _, r := range rep.IngestAtRate {
			rows = append(rows, []string{r.Database, strconv.Itoa(r.Rate) + "/s", strconv.Itoa(r.Events), dec(r.P50ms), dec(r.P99ms),
				dec(r.FloorP99ms), verdict(r.Met, fmt.Sprintf("p99 ≤ %.0f ms", r.GoalP99ms))})
		}
		t.write(w, rows)
	}

	fmt.Fprintln(w, "\n2. Delivery of paid orders under each CRM's documented limits, beside the ceiling they allow")
	fmt.Fprintln(w, "   (units allowed a second ÷ units a record)")
	fmt.Fprintln(w)
	t = table{"connector", "limits", "records", "records/s", "units/record", "ceiling/s", "ratio", "goal"}
	rows = rows[:0]
	for _, r := range rep.Delivery {
		units := dec(r.UnitsPerRecord) + " " + r.Unit
		goal := verdict(r.Met, fmt.Sprintf("≥ %.0f %%", r.Goal*100))
		if !r.Binding {
			goal = "n/a: " + r.Note
		}
		rows = append(rows, []string{r.Connector, r.Limits, strconv.Itoa(r.Records), num(r.PerSecond), units, num(r.Ceiling),
			fmt.Sprintf("%.0f %%", r.Ratio*100), goal})
	}
	t.write(w, rows)

	fmt.Fprintf(w, "\n3. End to end: paid webhook sent → CRM stores the order as paid, at %d events/s\n\n", e2eRate)
	t = table{"connector", "events", "p50 ms", "p99 ms", "max ms", "not written", "goal"}
	rows = rows[:0]
	for _, r := range rep.EndToEnd {
		rows = append(rows, []string{r.Connector, strconv.Itoa(r.Events), num(r.P50ms), num(r.P99ms), num(r.MaxMs),
			strconv.Itoa(r.Missing), verdict(r.Met, fmt.Sprintf("p99 ≤ %.0f ms", r.GoalP99ms))})
	}
	t.write(w, rows)

	if b := rep.Backlog; b != nil {
		fmt.Fprintf(w, "\n4. Backlog: %d events (paid, partly refunded, refunded) for %d orders while every CRM was down (%.1f s)\n\n",
			b.Events, b.Orders, b.OutageSeconds)
		t = table{"connector", "first request after", "drained after", "requests", "requests/event"}
		rows = rows[:0]
		for _, c := range b.CRMs {
			rows = append(rows, []string{c.Connector, dec(c.FirstRequestSeconds) + " s", dec(c.DrainSeconds) + " s",
				strconv.Itoa(c.Requests), dec(c.RequestsPerEvent)})
		}
		t.write(w, rows)
	}

	if f := rep.Footprint; f != nil {
		fmt.Fprintln(w, "\n5. Footprint of the binary (paysync serve on SQLite, three CRMs)")
		fmt.Fprintln(w)
		t = table{"binary", "start to ready", "RSS idle", "RSS peak under load", "goal"}
		t.write(w, [][]string{{fmt.Sprintf("%.1f MiB", float64(f.BinaryBytes)/(1<<20)), dec(f.StartToReadyMs) + " ms",
			dec(f.RSSIdleMiB) + " MiB", fmt.Sprintf("%s MiB (%d webhooks, 32 clients)", dec(f.RSSLoadMiB), f.LoadWebhooks),
			verdict(f.Met, fmt.Sprintf("≤ %.0f / %.0f MiB", f.GoalIdleMiB, f.GoalLoadMiB))}})
	}
	if len(rep.Skipped) > 0 {
		fmt.Fprintln(w)
		for _, s := range rep.Skipped {
			fmt.Fprintln(w, "skipped: "+s)
		}
	}
}

type table []string

func (t table) write(w io.Writer, rows [][]string) {
	fmt.Fprintln(w, "| "+strings.Join(t, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(t)))
	for _, r := range rows {
		fmt.Fprintln(w, "| "+strings.Join(r, " | ")+" |")
	}
}

func verdict(met bool, goal string) string {
	if met {
		return goal + " met"
	}
	return goal + " **missed**"
}

// num prints a figure to the unit, with thousands separated.
func num(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// dec prints a figure with one decimal, two below 10.
func dec(f float64) string {
	if f < 10 {
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}
