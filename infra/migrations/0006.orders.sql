-- depends: 0005.task_cancel
-- Orders of a station, their lines, and the operation cycles (运营周期) they belong to.
-- Written for MySQL 8 and MariaDB 10.11.

-- An operation cycle configuration: orders are grouped into cycles that start each day at
-- cycle_start (e.g. 18:00 the day before delivery). time_config_id in the seed is a string.
CREATE TABLE tbl_time_config (
    id              VARCHAR(32)     NOT NULL,
    station_id      VARCHAR(16)     NOT NULL,
    name            VARCHAR(64)     NOT NULL,
    cycle_start     TIME            NOT NULL,
    cycle_hours     SMALLINT        NOT NULL DEFAULT 24,
    PRIMARY KEY (id),
    KEY idx_station (station_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tbl_order (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    station_id      VARCHAR(16)     NOT NULL,
    order_no        VARCHAR(32)     NOT NULL,
    customer_id     VARCHAR(32)     NOT NULL DEFAULT '',
    customer_name   VARCHAR(128)    NOT NULL,
    address         VARCHAR(255)    NOT NULL DEFAULT '',
    area            VARCHAR(64)     NOT NULL DEFAULT '',      -- 地理标签 (search_area)
    status          TINYINT         NOT NULL,                  -- order status (filter `status`)
    order_time      DATETIME        NOT NULL,                  -- 下单日期 (query_type 1)
    receive_time    DATETIME        NOT NULL,                  -- 收货日期 (query_type 3)
    time_config_id  VARCHAR(32)     NOT NULL,
    cycle_start     DATETIME        NOT NULL,                  -- start of its operation cycle (query_type 2)
    total_amount    DECIMAL(14, 2)  NOT NULL DEFAULT 0,
    remark          VARCHAR(255)    NOT NULL DEFAULT '',
    -- set for orders created by a batch submit: the import task and the row of its batch.
    -- The unique key makes a re-delivered import chunk insert nothing twice (NULLs repeat freely
    -- for orders that did not come from an import).
    import_task_id  BIGINT UNSIGNED NULL,
    import_row_no   INT             NULL,
    create_time     DATETIME(3)     NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_import_row (station_id, import_task_id, import_row_no),
    KEY idx_station_order_time (station_id, order_time),
    KEY idx_station_receive_time (station_id, receive_time),
    KEY idx_station_cycle (station_id, time_config_id, cycle_start)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tbl_order_line (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    order_id        BIGINT UNSIGNED NOT NULL,
    station_id      VARCHAR(16)     NOT NULL,
    line_no         SMALLINT        NOT NULL,
    sku             VARCHAR(64)     NOT NULL,
    name            VARCHAR(255)    NOT NULL,
    unit            VARCHAR(16)     NOT NULL DEFAULT '',
    quantity        DECIMAL(12, 2)  NOT NULL,
    unit_price      DECIMAL(12, 2)  NOT NULL,
    amount          DECIMAL(14, 2)  NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_order_line (order_id, line_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
