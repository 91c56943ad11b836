package instagram

import (
	"context"
	"fmt"

	"github.com/paysync/paysync/connectors"
)

// Jobs are the token's renewal (Instagram Login tokens only) and the
// retention of conversations and message ids.
func (c *Connector) Jobs() []connectors.Job {
	jobs := []connectors.Job{{Name: "instagram-purge", Schedule: "@every 1h", Run: c.purge}}
	if c.cfg.tokens != nil {
		jobs = append(jobs, connectors.Job{Name: "instagram-token", Schedule: "@every 6h", Run: func(ctx context.Context) error {
			return c.cfg.tokens.renew(ctx, c.log)
		}})
	}
	return jobs
}

func (c *Connector) purge(ctx context.Context) error {
	n, err := c.store.PurgeConversations(ctx, c.now().Add(-c.cfg.Retention))
	if err != nil {
		return fmt.Errorf("purging Direct conversations: %w", err)
	}
	if n > 0 {
		c.log.Info("purged Direct conversations and message ids past their retention", "rows", n, "retention", c.cfg.Retention)
	}
	return nil
}
