-- depends: 0001.task
-- The chunk plan of a task and the outcome of each detail.
--
-- A task's items are split into chunks of at most chunk_size; the chunk row carries its
-- item ids, so creating a 100,000-item task writes 1 task row + 100 chunk rows, not
-- 100,000 detail rows. A detail row is written only when its item reaches a terminal
-- outcome; "pending" is the absence of a row.
CREATE TABLE tbl_task_chunk (
    task_id         BIGINT UNSIGNED NOT NULL,
    seq             INT             NOT NULL,
    first_item      INT             NOT NULL,
    item_count      INT             NOT NULL,
    item_ids        MEDIUMTEXT      NOT NULL,
    -- 0 pending (not sent), 1 queued (message sent), 2 running (leased), 3 done, 4 failed
    state           TINYINT         NOT NULL DEFAULT 0,
    lease_token     CHAR(32)        NULL,
    lease_until     DATETIME(3)     NULL,
    attempts        INT             NOT NULL DEFAULT 0,
    succeeded       INT             NOT NULL DEFAULT 0,
    failed          INT             NOT NULL DEFAULT 0,
    queued_at       DATETIME(3)     NULL,
    modify_time     DATETIME(3)     NOT NULL,
    PRIMARY KEY (task_id, seq),
    KEY idx_state_lease (state, lease_until),
    KEY idx_state_queued (state, queued_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tbl_task_detail (
    task_id         BIGINT UNSIGNED NOT NULL,
    seq             INT             NOT NULL,
    item_id         BIGINT UNSIGNED NOT NULL,
    -- 1 succeeded, 2 failed
    outcome         TINYINT         NOT NULL,
    target_id       BIGINT UNSIGNED NULL,
    reason          VARCHAR(512)    NOT NULL DEFAULT '',
    finish_time     DATETIME(3)     NOT NULL,
    PRIMARY KEY (task_id, seq),
    KEY idx_task_outcome (task_id, outcome, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
