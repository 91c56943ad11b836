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
)

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
	}
	return s, nil
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
