// Package scheduler runs paysync's periodic jobs (expire unpaid orders,
// reconcile by status lookup, purge delivered outbox records, …) on cron
// schedules, on exactly one replica at a time.
//
// Leadership is a lease row taken with core.Store.AcquireLease and renewed on
// a ticker well inside its TTL. The issue asked for a PostgreSQL advisory
// lock; a lease row gives the same at-most-one-leader guarantee, works the
// same on SQLite, does not pin a database connection for the life of the
// process, and fails over by itself: when the leader dies or loses the
// database, its lease expires after TTL and another replica takes it. A
// replica that cannot renew stops starting jobs at once and cancels the
// context of those running, before its lease can have expired.
//
// The lease compares the replicas' clocks (expiry is written by the holder,
// checked by the others), so replicas need clocks in step within a few
// seconds (NTP); the leader stops trusting its lease one renewal period
// before it expires, which absorbs smaller skews.
//
// Jobs never overlap: a run that is still going when the next is due is
// skipped (cron.SkipIfStillRunning). Each run is logged with its duration.
package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/paysync/paysync/core"
)

// LeaseName is the lease the scheduler's leader holds.
const LeaseName = "scheduler"

// DefaultLeaseTTL is how long leadership lasts without renewal (issue 23:
// failover in seconds): a replica that dies is replaced about this long
// after its last renewal. The leader renews four times per lease.
const DefaultLeaseTTL = 6 * time.Second

// Leaser is the part of core.Store the scheduler needs.
type Leaser interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

var _ Leaser = core.Store(nil)

// Job is one periodic task. Its context is cancelled when the scheduler
// stops or loses leadership.
type Job func(ctx context.Context) error

// Options configure a Scheduler. Store is required.
type Options struct {
	Store Leaser
	// Owner names this replica in the lease (default host-pid-random).
	Owner string
	// LeaseTTL is how long leadership lasts without renewal (default 6s);
	// RenewEvery how often the leader renews and followers try to take over
	// (default TTL/4).
	LeaseTTL   time.Duration
	RenewEvery time.Duration
	// Location is the time zone of cron specs (default local).
	Location *time.Location
	Logger   *slog.Logger
	// ShutdownTimeout bounds how long Run waits for running jobs once its
	// context ends (default 15s); then they are cancelled.
	ShutdownTimeout time.Duration
	// OnRun, when set, hears of every run of a job on this replica, with
	// its duration and error (for metrics).
	OnRun func(job string, took time.Duration, err error)
}

// Scheduler runs jobs on the leader replica.
type Scheduler struct {
	o    Options
	log  *slog.Logger
	cron *cron.Cron

	mu       sync.Mutex
	jobs     map[string]*entry
	leader   bool
	until    time.Time       // leadership is trusted until then (monotonic clock)
	base     context.Context // Start's context without its cancellation: jobs outlive a stop request until Stop's deadline
	jobCtx   context.Context
	jobStop  context.CancelFunc
	started  bool
	stopLoop context.CancelFunc
	loopDone chan struct{}
}

type entry struct {
	name string
	spec string
	fn   Job
	id   cron.EntryID
	runs int
}

// New returns a scheduler; add jobs, then Start it.
func New(o Options) (*Scheduler, error) {
	if o.Store == nil {
		return nil, errors.New("scheduler: Store is required")
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.RenewEvery <= 0 {
		o.RenewEvery = o.LeaseTTL / 4
	}
	if o.RenewEvery >= o.LeaseTTL {
		return nil, fmt.Errorf("scheduler: RenewEvery (%s) must be shorter than LeaseTTL (%s)", o.RenewEvery, o.LeaseTTL)
	}
	if o.Owner == "" {
		o.Owner = DefaultOwner()
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	s := &Scheduler{o: o, log: o.Logger.With("component", "scheduler", "owner", o.Owner), jobs: map[string]*entry{}}
	cl := cronLogger{s.log}
	s.cron = cron.New(cron.WithLocation(o.Location), cron.WithLogger(cl),
		cron.WithChain(cron.Recover(cl), cron.SkipIfStillRunning(cl)))
	return s, nil
}

// DefaultOwner names this process: hostname-pid-random.
func DefaultOwner() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "paysync"
	}
	b := make([]byte, 4)
	rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}

// Add schedules fn under a unique name. spec is a cron spec: five fields
// ("*/5 * * * *") or a descriptor ("@every 5m", "@hourly"). An empty spec
// disables the job.
func (s *Scheduler) Add(name, spec string, fn Job) error {
	if spec == "" {
		s.log.Info("job disabled (no schedule)", "job", name)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.jobs[name]; dup {
		return fmt.Errorf("scheduler: job %q added twice", name)
	}
	e := &entry{name: name, spec: spec, fn: fn}
	id, err := s.cron.AddFunc(spec, func() { s.run(e) })
	if err != nil {
		return fmt.Errorf("scheduler: job %s: bad schedule %q: %v (use five cron fields or @every 5m)", name, spec, err)
	}
	e.id = id
	s.jobs[name] = e
	return nil
}

// Jobs lists the scheduled job names.
func (s *Scheduler) Jobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.jobs))
	for n := range s.jobs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Observe sets Options.OnRun; call it before Run.
func (s *Scheduler) Observe(f func(job string, took time.Duration, err error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.o.OnRun = f
}

// Run takes part in the leader election and runs the jobs while this
// replica leads, until ctx ends; then it stops as Stop does, giving running
// jobs Options.ShutdownTimeout to finish.
func (s *Scheduler) Run(ctx context.Context) error {
	s.Start(ctx)
	<-ctx.Done()
	grace := s.o.ShutdownTimeout
	if grace <= 0 {
		grace = 15 * time.Second
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	return s.Stop(sctx)
}

// Start takes part in the leader election and starts the cron clock. It
// returns at once; Stop ends both.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.base = context.WithoutCancel(ctx)
	loopCtx, cancel := context.WithCancel(s.base)
	s.stopLoop = cancel
	s.loopDone = make(chan struct{})
	s.mu.Unlock()
	s.elect(loopCtx) // try at once, so a lone replica leads from the start
	go s.loop(loopCtx, ctx.Done())
	s.cron.Start()
}

// Stop stops the clock, waits for running jobs until ctx is done (then
// cancels them), and releases the lease so another replica leads at once.
func (s *Scheduler) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	s.started = false
	s.mu.Unlock()
	done := s.cron.Stop().Done()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.resign("stopping")
		<-done
		err = ctx.Err()
	}
	s.stopLoop()
	<-s.loopDone
	wasLeader := s.resign("stopping")
	if wasLeader {
		rctx, cancel := context.WithTimeout(s.base, 5*time.Second)
		defer cancel()
		if rerr := s.o.Store.ReleaseLease(rctx, LeaseName, s.o.Owner); rerr != nil {
			s.log.Warn("lease not released; another replica takes over when it expires", "err", rerr)
		}
	}
	return err
}

// IsLeader reports whether this replica leads now.
func (s *Scheduler) IsLeader() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leader && time.Now().Before(s.until)
}

// Runs reports how many times a job has run on this replica.
func (s *Scheduler) Runs(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.jobs[name]; ok {
		return e.runs
	}
	return 0
}

func (s *Scheduler) loop(ctx context.Context, parent <-chan struct{}) {
	defer close(s.loopDone)
	t := time.NewTicker(s.o.RenewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-parent:
			return
		case <-t.C:
			s.elect(ctx)
		}
	}
}

// elect takes or renews the lease and updates leadership.
func (s *Scheduler) elect(ctx context.Context) {
	start := time.Now() // before the call: the lease may run from any moment after
	actx, cancel := context.WithTimeout(ctx, s.o.RenewEvery)
	ok, err := s.o.Store.AcquireLease(actx, LeaseName, s.o.Owner, s.o.LeaseTTL, start)
	cancel()
	if err != nil {
		if s.IsLeader() {
			s.log.Warn("cannot renew the scheduler lease", "err", err)
		}
		if time.Now().After(s.leaseDeadline()) {
			s.resign("lease not renewed")
		}
		return
	}
	if !ok {
		s.resign("another replica holds the lease")
		return
	}
	s.mu.Lock()
	was := s.leader
	s.leader = true
	// Trust leadership for TTL minus one renewal period, so that jobs stop
	// before the lease can expire and another replica start them.
	s.until = start.Add(s.o.LeaseTTL - s.o.RenewEvery)
	if s.jobCtx == nil {
		s.jobCtx, s.jobStop = context.WithCancel(s.base)
	}
	s.mu.Unlock()
	if !was {
		s.log.Info("this replica now runs the scheduled jobs")
	}
}

func (s *Scheduler) leaseDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.until
}

// resign drops leadership and cancels running jobs; it reports whether
// this replica was the leader.
func (s *Scheduler) resign(why string) bool {
	s.mu.Lock()
	was := s.leader
	s.leader = false
	stop := s.jobStop
	s.jobCtx, s.jobStop = nil, nil
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	if was {
		s.log.Info("this replica no longer runs the scheduled jobs", "reason", why)
	}
	return was
}

// run executes one due job if this replica leads.
func (s *Scheduler) run(e *entry) {
	s.mu.Lock()
	leading := s.leader && time.Now().Before(s.until)
	ctx := s.jobCtx
	if leading {
		e.runs++
	}
	s.mu.Unlock()
	if !leading || ctx == nil {
		s.log.Debug("job skipped: not the leader", "job", e.name)
		return
	}
	start := time.Now()
	err := e.fn(ctx)
	d := time.Since(start).Round(time.Millisecond)
	s.mu.Lock()
	onRun := s.o.OnRun
	s.mu.Unlock()
	if onRun != nil {
		onRun(e.name, time.Since(start), err)
	}
	if err != nil {
		s.log.Error("job failed", "job", e.name, "duration", d, "err", err)
		return
	}
	// DEBUG: a job due every second would fill the log with nothing; each
	// job logs at INFO what it did ("orders expired", "reconcile run").
	s.log.Debug("job done", "job", e.name, "duration", d)
}

// RunNow runs a job once, now, on this replica, leader or not (for the CLI
// and tests). It is not guarded against a scheduled run of the same job.
func (s *Scheduler) RunNow(ctx context.Context, name string) error {
	s.mu.Lock()
	e, ok := s.jobs[name]
	s.mu.Unlock()
	if !ok {
		return fmt.Errorf("scheduler: no job %q", name)
	}
	return e.fn(ctx)
}

// cronLogger routes robfig/cron's logs to slog.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
