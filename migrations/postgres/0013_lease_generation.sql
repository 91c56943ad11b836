-- expand: leadership leases get a generation (fencing, issue 23). It grows
-- each time a lease changes hands; the dispatcher claims and settles under
-- the generation it holds, so a replica that was paused or cut off while
-- another took over cannot settle what the other now delivers. A release
-- now expires the row instead of deleting it, so the number keeps growing.
-- The previous release ignores the column (its default keeps its inserts
-- valid) and keeps working beside this one during a rolling upgrade.
ALTER TABLE leases ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
