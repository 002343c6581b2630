-- depends: 0003.engine
-- The sweeper looks at running tasks only; without this it would scan every task ever made.
ALTER TABLE tbl_async_task ADD KEY idx_status (status, id);
