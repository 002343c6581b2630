-- depends: 0009.binary_identifiers
-- The product center's budget, shared by every worker (chalicelib/service/budget.py).
--
-- One row per downstream. `tat_s` is the token bucket's theoretical arrival time (epoch
-- seconds): a worker reserves a block of n tokens by moving it on by n / rate, one locked
-- read and one UPDATE per block (a few writes per second at any rate). `rate` is the
-- current adaptive budget (AIMD under the PRODUCT_CENTER_RATE ceiling), stepped with each
-- reservation; `updated_s` / `decreased_s` are when it last moved and last backed off.
-- A missing or corrupt row (rate not positive, times not finite or far ahead) is
-- rewritten by the next reservation, so it never blocks work.
CREATE TABLE tbl_rate_budget (
    name            VARCHAR(64)     NOT NULL,
    rate            DOUBLE          NOT NULL,
    tat_s           DOUBLE          NOT NULL,
    updated_s       DOUBLE          NOT NULL,
    decreased_s     DOUBLE          NOT NULL,
    reservations    BIGINT UNSIGNED NOT NULL DEFAULT 0,
    modify_time     DATETIME(3)     NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
