-- Daily reconciliation (issue 23): one report per provider and shop day,
-- the provider's transactions of that day beside paysync's orders. A run
-- again for the same day replaces its report. The report itself (totals,
-- one line per finding) is JSON; day is YYYY-MM-DD in the shop's time zone,
-- ran_at unix microseconds.
CREATE TABLE reconcile_reports (
    provider TEXT   NOT NULL,
    day      TEXT   NOT NULL,
    ran_at   BIGINT NOT NULL,
    report   TEXT   NOT NULL,
    PRIMARY KEY (provider, day)
);
-- The console's list: the latest days first.
CREATE INDEX reconcile_reports_day ON reconcile_reports (day, provider);
-- A provider's orders paid in a day, which the provider's list must show.
CREATE INDEX orders_provider_paid ON orders (provider, paid_at) WHERE paid_at IS NOT NULL;
