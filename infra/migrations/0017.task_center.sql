-- depends: 0011.station_schedule
-- The task center (issue #17): the shown tasks paged newest first, filtered by type and/or
-- status, with the filter's total; and an ETA from the rate measured in the current run.
--
-- Pages read (station_id, message_show, <filter columns>, id) backwards from the cursor,
-- so each filter needs its columns ahead of id in a key: type alone, and type with status
-- (status alone is 0012's idx_station_shown_status). The total is COUNT(*) over the same
-- key range, index only. MySQL 8 and MariaDB 10.11 both build these keys in place without
-- blocking writes (ALGORITHM=INPLACE, LOCK=NONE), and the column is added instantly.
ALTER TABLE tbl_async_task
    ADD KEY idx_station_shown_type (station_id, message_show, type, id),
    ADD KEY idx_station_shown_type_status (station_id, message_show, type, status, id);

-- Items already done (succeeded + failed + cancelled) when the current run started:
-- a retry keeps the items that succeeded before, so the run's own rate is
-- (done - run_base_done) / (now - start_time). Set by service/lifecycle.start.
ALTER TABLE tbl_async_task ADD COLUMN run_base_done INT NOT NULL DEFAULT 0;
