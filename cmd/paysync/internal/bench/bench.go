// Package bench is `paysync bench`: it measures paysync against the local
// doubles of its CRMs and prints what it found beside the goals of issue 15.
//
//  1. ingest: signed webhooks a second and their latency at 1, 8 and 32
//     clients, on SQLite and PostgreSQL, beside a baseline measured in the
//     same run (the same rows written by a plain one-transaction-per-event
//     loop through the driver); and the latency at a steady 500 a second;
//  2. delivery: records a second each CRM connector writes under its CRM's
//     documented limits, beside the ceiling those limits allow;
//  3. end to end: from the webhook to the CRM write, at 50 events a second;
//  4. backlog: events queued during a CRM outage, drained when it ends;
//  5. footprint: the binary, its start, its memory idle and under load.
//
// Sections 1 and 2 run in this process; 3 to 5 run the real binary (`paysync
// serve`) against the doubles served from this process.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// EnvDatabaseURL names the variable `paysync bench` takes its PostgreSQL
// server from when --database-url is not given: the test suite's server.
const EnvDatabaseURL = "PAYSYNC_TEST_DATABASE_URL"

// Options configure a run.
type Options struct {
	// Quick runs every section briefly (under a minute): a smoke test of the
	// harness, not a measurement to quote.
	Quick bool
	// DatabaseURL is a PostgreSQL server (postgres://…) on which the run
	// creates, and drops at the end, a scratch database of its own. Empty:
	// PostgreSQL is skipped, with a line that says so.
	DatabaseURL string
	// Binary is the paysync binary that sections 3 to 5 run.
	Binary string
	// Progress hears what the run is doing, a line per step (nil: silent).
	Progress io.Writer
}

// Report is what a run measured; it is written as JSON.
type Report struct {
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	Quick     bool      `json:"quick"`
	Machine   Machine   `json:"machine"`

	Ingest       []IngestResult `json:"ingest"`
	IngestAtRate []RateResult   `json:"ingest_at_rate"`
	Delivery     []DeliveryRow  `json:"delivery"`
	EndToEnd     []LatencyRow   `json:"end_to_end"`
	Backlog      *BacklogResult `json:"backlog"`
	Footprint    *Footprint     `json:"footprint"`
	// Skipped says which parts did not run and why.
	Skipped []string `json:"skipped,omitempty"`
}

// Machine is where the run took place.
type Machine struct {
	CPUs        int       `json:"cpus"`
	CPUModel    string    `json:"cpu_model,omitempty"`
	OS          string    `json:"os"`
	Arch        string    `json:"arch"`
	Go          string    `json:"go"`
	LoadBefore  []float64 `json:"load_average_before,omitempty"`
	LoadAfter   []float64 `json:"load_average_after,omitempty"`
	MemTotalMiB int64     `json:"mem_total_mib,omitempty"`
}

// run is one benchmark run in progress.
type run struct {
	o     Options
	start time.Time
	rep   *Report
}

// Run measures every section and returns the report. A section that cannot
// run (no PostgreSQL, no binary) is left out with a reason in Skipped; an
// error means the harness itself failed.
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &run{o: o, start: time.Now(), rep: &Report{StartedAt: time.Now().UTC(), Quick: o.Quick, Machine: machine()}}
	r.rep.Machine.LoadBefore = loadAverage()
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"ingest", r.ingest},
		{"delivery", r.delivery},
		{"daemon", r.daemon},
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return r.rep, err
		}
		if err := s.fn(ctx); err != nil {
			return r.rep, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	r.rep.Machine.LoadAfter = loadAverage()
	r.rep.Seconds = time.Since(r.start).Seconds()
	return r.rep, nil
}

// progress prints one line of what the run is doing.
func (r *run) progress(format string, args ...any) {
	if r.o.Progress == nil {
		return
	}
	fmt.Fprintf(r.o.Progress, "[%5.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// skip records a part that did not run.
func (r *run) skip(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.rep.Skipped = append(r.rep.Skipped, msg)
	r.progress("skipped: %s", msg)
}

// pick is the quick or the full value of a setting.
func (r *run) pick(quick, full int) int {
	if r.o.Quick {
		return quick
	}
	return full
}

// WriteJSON writes the report, indented.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemTotalMiB = kb / 1024
		}
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load average (Linux), nil elsewhere.
func loadAverage() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var a, b5, c float64
	if _, err := fmt.Sscanf(string(b), "%f %f %f", &a, &b5, &c); err != nil {
		return nil
	}
	return []float64{a, b5, c}
}
