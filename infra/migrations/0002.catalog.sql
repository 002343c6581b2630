-- depends: 0001.task
-- Shops and products of each station: what a copy task reads from its source shop.
CREATE TABLE tbl_shop (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    station_id  VARCHAR(16)     NOT NULL,
    name        VARCHAR(128)    NOT NULL,
    PRIMARY KEY (id),
    KEY idx_station (station_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tbl_product (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    station_id  VARCHAR(16)     NOT NULL,
    shop_id     BIGINT UNSIGNED NOT NULL,
    name        VARCHAR(255)    NOT NULL,
    sku         VARCHAR(64)     NOT NULL,
    category    VARCHAR(64)     NOT NULL DEFAULT '',
    price_cents INT             NOT NULL,
    PRIMARY KEY (id),
    KEY idx_shop (shop_id, id),
    KEY idx_shop_category (shop_id, category, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
