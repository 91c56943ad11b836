package dispatcher

import (
	"context"
	"errors"

	"github.com/paysync/paysync/core"
)

// loadDeliveries reads the deliveries for orderIDs; an order that cannot be
// read is in failed with the reason (ENOTFOUND for an unknown order).
func loadDeliveries(ctx context.Context, s core.Store, connector string, orderIDs []string) (found map[string]core.Delivery, failed map[string]error, err error) {
	found = make(map[string]core.Delivery, len(orderIDs))
	failed = map[string]error{}
	if b, ok := s.(core.BatchStore); ok {
		ds, err := b.LoadDeliveries(ctx, connector, orderIDs)
		if err != nil {
			return nil, nil, err
		}
		for _, d := range ds {
			found[d.Order.ID] = d
		}
		for _, id := range orderIDs {
			if _, ok := found[id]; !ok {
				failed[id] = core.Errorf(core.ENOTFOUND, "order %s not found", id)
			}
		}
		return found, failed, nil
	}
	for _, id := range orderIDs {
		d, err := loadOne(ctx, s, connector, id)
		if err != nil {
			if core.ErrorCode(err) != core.ENOTFOUND {
				return nil, nil, err
			}
			failed[id] = err
			continue
		}
		found[id] = d
	}
	return found, failed, nil
}

func loadOne(ctx context.Context, s core.Store, connector, orderID string) (core.Delivery, error) {
	o, err := s.GetOrder(ctx, orderID)
	if err != nil {
		return core.Delivery{}, err
	}
	link, err := s.GetLink(ctx, connector, orderID)
	if err != nil {
		return core.Delivery{}, err
	}
	j, err := s.ListJournal(ctx, orderID)
	if err != nil {
		return core.Delivery{}, err
	}
	d := core.Delivery{Order: o, Link: link}
	var synced int64
	if link != nil {
		synced = link.SyncedVersion
	}
	for _, e := range j {
		if e.OrderVersion > synced && e.OrderVersion <= o.Version {
			d.Transitions = append(d.Transitions, e)
		}
	}
	return d, nil
}

// completeAll settles cs; errs[i] is the outcome of cs[i].
func completeAll(ctx context.Context, s core.Store, cs []core.Completion) []error {
	if b, ok := s.(core.BatchStore); ok {
		errs, err := b.CompleteOutboxBatch(ctx, cs)
		if err == nil {
			return errs
		}
		errs = make([]error, len(cs))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	errs := make([]error, len(cs))
	for i, c := range cs {
		errs[i] = s.CompleteOutbox(ctx, c)
		if errors.Is(errs[i], context.Canceled) {
			for j := i + 1; j < len(cs); j++ {
				errs[j] = errs[i]
			}
			break
		}
	}
	return errs
}
