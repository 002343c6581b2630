-- depends: 0006.orders
-- The rows of an order batch submit, stored with the import task in its creating
-- transaction, in parts of the engine's chunk size (each a JSON array of the raw rows as
-- the client sent them). A worker reads only the part(s) of its chunk, so the task's own
-- input stays a few bytes (the engine reads it on every chunk claim, under the task lock).
CREATE TABLE tbl_order_import_part (
    task_id         BIGINT UNSIGNED NOT NULL,
    part            INT             NOT NULL,
    first_row       INT             NOT NULL,      -- row number (1-based) of its first row
    row_count       INT             NOT NULL,
    rows_json       MEDIUMTEXT      NOT NULL,
    PRIMARY KEY (task_id, part)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
