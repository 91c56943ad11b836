-- Refusal records are bounded per window: at most core.MaxRefusalSources
-- sources per provider, verdict and window, the rest counted under one
-- "other networks" record. Counting a window's sources reads this index.
CREATE INDEX refusals_window ON refusals (provider, verdict, window_start);
