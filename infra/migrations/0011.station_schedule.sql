-- depends: 0010.rate_budget
-- Station fairness (chalicelib/service/scheduling.py): a station's chunks are released
-- under one lock row per station, so two workers finishing chunks of one station at once
-- never queue more than its bound; and the station's unfinished tasks are found by index.
CREATE TABLE tbl_station_schedule (
    station_id      VARCHAR(64)     NOT NULL,
    releases        BIGINT UNSIGNED NOT NULL DEFAULT 0,
    modify_time     DATETIME(3)     NOT NULL,
    PRIMARY KEY (station_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE tbl_async_task ADD KEY idx_station_status (station_id, status, id);
