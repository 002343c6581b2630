-- The seed's task table (gm_async_task), plus what the engine needs.
-- Runs on MySQL 8 and MariaDB 10.11. `repeat` is a reserved word: always quote it.
CREATE TABLE tbl_async_task (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    user_task_id    VARCHAR(64)     NULL,
    name            VARCHAR(64)     NOT NULL,
    station_id      VARCHAR(16)     NOT NULL,
    input           MEDIUMTEXT      NOT NULL,
    result          JSON            NULL,
    status          TINYINT         NOT NULL,
    `repeat`        TINYINT(1)      NOT NULL DEFAULT 0,
    message_show    TINYINT(1)      NOT NULL DEFAULT 1,
    run_count       INT             NOT NULL DEFAULT 0,
    creat_time      DATETIME(3)     NOT NULL,
    modify_time     DATETIME(3)     NOT NULL,
    start_time      DATETIME(3)     NULL,
    end_time        DATETIME(3)     NULL,
    business_id     INT             NOT NULL DEFAULT 0,
    business_name   VARCHAR(64)     NOT NULL DEFAULT '',
    type            TINYINT         NOT NULL,
    progress        TINYINT         NOT NULL DEFAULT 0,
    -- engine columns
    reason          VARCHAR(1024)   NOT NULL DEFAULT '',
    total_items     INT             NOT NULL DEFAULT 0,
    succeeded_items INT             NOT NULL DEFAULT 0,
    failed_items    INT             NOT NULL DEFAULT 0,
    -- user_task_id while a repeat=0 task is unfinished, NULL otherwise: the unique key
    -- below makes "same station + name + user_task_id returns the open task" race-free.
    open_dedup_key  VARCHAR(64)     NULL,
    PRIMARY KEY (id),
    KEY idx_station_shown (station_id, message_show, id),
    KEY idx_station_user_task (station_id, user_task_id),
    UNIQUE KEY uq_open_dedup (station_id, name, open_dedup_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
