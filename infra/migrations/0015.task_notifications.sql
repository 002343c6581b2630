-- depends: 0017.task_center
-- Completion notifications (chalicelib/service/notifications.py, docs/notifications.md).
-- callback_url: where the task's item is POSTed when it ends (checked at creation).
-- When a task moves to a final status, the same UPDATE opens its notification job:
-- notify_id a new random id (the X-Delivery-Id receivers dedupe by; a new finish after a
-- retry gets a new one), notify_state / event_state 1 (pending) for the webhook and the
-- EventBridge event, notify_seq 0 (runs of the job claimed so far), notify_due_at now.
-- notify_due_at is the job's clock: while a run holds it, its lease; between runs, the
-- next run's time; NULL once nothing is pending. The sweeper re-sends jobs overdue by
-- NOTIFY_SWEEP_AFTER_S (a lost message) through idx_notify_due.
ALTER TABLE tbl_async_task
    ADD COLUMN callback_url      VARCHAR(2048) NULL,
    ADD COLUMN notify_id         CHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
    ADD COLUMN notify_state      TINYINT      NOT NULL DEFAULT 0,
    ADD COLUMN event_state       TINYINT      NOT NULL DEFAULT 0,
    ADD COLUMN notify_seq        SMALLINT     NOT NULL DEFAULT 0,
    ADD COLUMN notify_attempts   SMALLINT     NOT NULL DEFAULT 0,
    ADD COLUMN notify_last_error VARCHAR(512) NULL,
    ADD COLUMN notified_at       DATETIME(3)  NULL,
    ADD COLUMN notify_due_at     DATETIME(3)  NULL,
    ADD KEY idx_notify_due (notify_due_at);
