-- depends: 0004.sweeper_indexes
-- Cancel is a request recorded on the task; workers read it at their next outcome batch.
-- The seed's status codes stay as they are: a cancelled task ends 4 or 5 with
-- cancelled = 1 and reason "cancelled" (see docs/errors.md, "Cancelled tasks").
ALTER TABLE tbl_async_task ADD COLUMN cancelled TINYINT(1) NOT NULL DEFAULT 0;
