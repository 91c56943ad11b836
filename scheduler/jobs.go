package scheduler

import (
	"context"
	"log/slog"
	"time"

	"github.com/paysync/paysync/config"
	"github.com/paysync/paysync/payments"
)

// Job names of the payments jobs.
const (
	JobExpire    = "expire"
	JobReconcile = "reconcile"
	// JobReconcileDay is the daily reconciliation: the providers'
	// transaction lists beside paysync's orders (payments.ReconcileDay).
	JobReconcileDay = "reconcile-day"
)

// ReconcileDays is how many days before today the daily reconciliation
// goes over each run: yesterday, and the day before in case a run was
// missed or the bank listed a payment late. A run again over a day writes
// nothing twice.
const ReconcileDays = 2

// FromConfig returns a scheduler in the configured time zone with the
// payments jobs added on their schedules (expire_schedule,
// reconcile_schedule). The caller adds the rest (e.g. the dispatcher's
// retention purge on cfg.Scheduler.PurgeSchedule) with Add, then Starts it.
func FromConfig(cfg *config.Config, store Leaser, p *payments.Service, logger *slog.Logger) (*Scheduler, error) {
	loc := time.Local
	if cfg.TimeZone != "" {
		l, err := time.LoadLocation(cfg.TimeZone)
		if err != nil {
			return nil, err
		}
		loc = l
	}
	s, err := New(Options{Store: store, Location: loc, Logger: logger, ShutdownTimeout: cfg.ShutdownTimeout.D()})
	if err != nil {
		return nil, err
	}
	if p != nil {
		if err := s.AddPayments(cfg.Scheduler, p); err != nil {
			return nil, err
		}
		if err := s.AddReconcileDay(cfg.Scheduler.ReconcileDaySchedule, p, loc); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// AddReconcileDay adds the daily reconciliation, when a provider lists its
// transactions and spec is not "off". Like every job it runs on the
// replica holding the scheduler's lease only.
func (s *Scheduler) AddReconcileDay(spec string, p *payments.Service, loc *time.Location) error {
	if spec == "off" || len(p.Listers()) == 0 {
		return nil
	}
	return s.Add(JobReconcileDay, spec, func(ctx context.Context) error {
		today, _ := payments.DayBounds(time.Now().In(loc), loc)
		for back := ReconcileDays; back >= 1; back-- {
			if _, err := p.ReconcileDay(ctx, today.AddDate(0, 0, -back), loc); err != nil {
				return err
			}
		}
		return nil
	})
}

// AddPayments adds the expire and reconcile jobs of a payments service.
func (s *Scheduler) AddPayments(cfg config.Scheduler, p *payments.Service) error {
	if err := s.Add(JobExpire, cfg.ExpireSchedule, func(ctx context.Context) error {
		_, err := p.ExpireDue(ctx)
		return err
	}); err != nil {
		return err
	}
	return s.Add(JobReconcile, cfg.ReconcileSchedule, func(ctx context.Context) error {
		_, err := p.Reconcile(ctx)
		return err
	})
}
