"""Identifiers compare byte for byte; dead letters are settled once (tbl_dead_letter).

The tables were created with utf8mb4_unicode_ci, under which `user_task_id` "A" finds the
open task "a", every emoji equals every other, accents and trailing spaces are ignored, and
station ids compare the same way. Identifier columns (ids, keys, station ids, task names used
as keys, SKUs, order numbers, lease tokens) get a binary NO PAD collation, so a trailing space
counts too. The two servers spell it differently: MySQL 8 (8.0.17+) `utf8mb4_0900_bin`,
MariaDB 10.11 `utf8mb4_nopad_bin` (`utf8mb4_bin` is PAD SPACE on both: 'a' = 'a ').
Free text that people search (names, categories, areas, customers) keeps the _ci collation.

tbl_dead_letter: the DLQ messages the sweeper has already settled, by SQS MessageId, so a
message still waiting in the DLQ cannot fail a chunk again after /task/retry reopened it.
"""
from yoyo import step

__depends__ = {"0012.task_list_index"}

# table -> column definitions (type, nullability, default exactly as created)
IDENTIFIERS = {
    "tbl_async_task": ["user_task_id VARCHAR(64) {c} NULL", "name VARCHAR(64) {c} NOT NULL",
                       "station_id VARCHAR(16) {c} NOT NULL",
                       "open_dedup_key VARCHAR(64) {c} NULL"],
    "tbl_shop": ["station_id VARCHAR(16) {c} NOT NULL"],
    "tbl_product": ["station_id VARCHAR(16) {c} NOT NULL", "sku VARCHAR(64) {c} NOT NULL"],
    "tbl_task_chunk": ["lease_token CHAR(32) {c} NULL"],
    "tbl_time_config": ["id VARCHAR(32) {c} NOT NULL", "station_id VARCHAR(16) {c} NOT NULL"],
    "tbl_order": ["station_id VARCHAR(16) {c} NOT NULL", "order_no VARCHAR(32) {c} NOT NULL",
                  "customer_id VARCHAR(32) {c} NOT NULL DEFAULT ''",
                  "time_config_id VARCHAR(32) {c} NOT NULL"],
    "tbl_order_line": ["station_id VARCHAR(16) {c} NOT NULL", "sku VARCHAR(64) {c} NOT NULL"],
}


def binary_collation(conn) -> str:
    cur = conn.cursor()
    cur.execute("SELECT VERSION()")
    version = cur.fetchone()[0]
    cur.close()
    return "utf8mb4_nopad_bin" if "mariadb" in version.lower() else "utf8mb4_0900_bin"


def _alter(conn, collation: str) -> None:
    cur = conn.cursor()
    for table, columns in IDENTIFIERS.items():
        spec = f"CHARACTER SET utf8mb4 COLLATE {collation}"
        cur.execute(f"ALTER TABLE {table} " + ", ".join(
            "MODIFY " + c.format(c=spec) for c in columns))
    cur.close()


def apply(conn) -> None:
    _alter(conn, binary_collation(conn))


def rollback(conn) -> None:
    _alter(conn, "utf8mb4_unicode_ci")


steps = [
    step(apply, rollback),
    step("CREATE TABLE tbl_dead_letter ("
         " message_id VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,"
         " task_id BIGINT UNSIGNED NULL,"
         " settled_at DATETIME(3) NOT NULL,"
         " PRIMARY KEY (message_id),"
         " KEY idx_settled (settled_at)"
         ") ENGINE=InnoDB",
         "DROP TABLE tbl_dead_letter"),
]
