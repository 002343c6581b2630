-- depends: 0015.task_notifications
-- Exports run on the engine (issue #12): an export task's plan is one item, the file
-- (chalicelib/service/order_export.py). Unfinished exports created before this have no
-- plan: each gets its one pending chunk and a total of one item, and the sweeper's
-- stalled-task repair releases it within its station's bound. An old "export" message
-- still in the queue names the same chunk (bootstrap.Services.messages).
INSERT INTO tbl_task_chunk (task_id, seq, first_item, item_count, item_ids, state, modify_time)
SELECT t.id, 0, 0, 1, '[0]', 0, UTC_TIMESTAMP(3)
FROM tbl_async_task t
WHERE t.name = 'order_detail_export' AND t.status IN (1, 2)
  AND NOT EXISTS (SELECT 1 FROM tbl_task_chunk c WHERE c.task_id = t.id);

UPDATE tbl_async_task SET total_items = 1, succeeded_items = 0, failed_items = 0
WHERE name = 'order_detail_export' AND status IN (1, 2) AND total_items <> 1;
