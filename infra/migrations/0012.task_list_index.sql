-- depends: 0008.tx_marker
-- /task/list answers `finish` (is any shown task of the station unfinished?) on every poll.
-- On idx_station_shown (station_id, message_show, id) that check reads every shown task of
-- a station that has none unfinished (the common case); with status in the key it is a
-- range read of the unfinished ones, which stops at the first row. It also serves the
-- list filtered by status (newest first, without a sort).
ALTER TABLE tbl_async_task ADD KEY idx_station_shown_status (station_id, message_show, status, id);
