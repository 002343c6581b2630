-- depends: 0007.order_import_parts
-- One row per committed write transaction, inserted in that transaction just before its
-- COMMIT (chalicelib/adapters/db.py). When a COMMIT's reply is lost (2013), the client
-- inserts the same id again on a fresh connection: a duplicate key proves the transaction
-- committed (the insert waits while the first one is still open), success proves it did
-- not. So a lost reply never re-applies a transaction. The id starts with the commit's
-- time in milliseconds (big-endian), so rows are appended in key order and the sweeper
-- prunes old ones by a key range.
CREATE TABLE tbl_tx_marker (
    id  BINARY(16) NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB;
