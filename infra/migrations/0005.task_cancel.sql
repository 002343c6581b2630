-- depends: 0004.sweeper_indexes
-- Cancel is a request recorded on the task; workers read it at their next outcome batch
-- and record the items they did not run as cancelled (tbl_task_detail.outcome = 3).
-- The seed's status codes stay as they are: a cancelled task ends 4 (some items succeeded)
-- or 5 (none did) with cancelled = 1 and a reason starting "cancelled" (docs/errors.md).
ALTER TABLE tbl_async_task
    ADD COLUMN cancelled TINYINT(1) NOT NULL DEFAULT 0,
    ADD COLUMN cancelled_items INT NOT NULL DEFAULT 0;
