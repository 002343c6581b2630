"""The time zone a station works in, for the times the API shows it.

Task times are stored in UTC (the session's time_zone is +00:00) and returned as ISO 8601
with the station's offset, e.g. "2026-12-02T14:14:42+08:00": the same instant, readable
as the station's wall clock. China time unless configured: STATION_TIME_ZONE (the default
zone) and STATION_TIME_ZONES ("s002=Europe/Berlin,s003=+05:30") take IANA names or fixed
offsets.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.config import get_settings

_OFFSET = re.compile(r"(?:UTC)?([+-])(\d{1,2}):?(\d{2})")
# Zones without daylight saving, for a runtime without a tz database (no tzdata).
_FIXED = {"Asia/Shanghai": 8 * 60, "PRC": 8 * 60, "Asia/Chongqing": 8 * 60, "UTC": 0}


def parse_zone(spec: str) -> dt.tzinfo:
    spec = spec.strip()
    m = _OFFSET.fullmatch(spec)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3))
        return dt.timezone(dt.timedelta(minutes=minutes if m.group(1) == "+" else -minutes))
    try:
        return ZoneInfo(spec)
    except (ZoneInfoNotFoundError, ValueError):
        if spec in _FIXED:
            return dt.timezone(dt.timedelta(minutes=_FIXED[spec]))
        raise ValueError(f"unknown time zone {spec!r}") from None


@lru_cache(maxsize=8)
def _zones(default: str, per_station: str) -> tuple[dt.tzinfo, dict[str, dt.tzinfo]]:
    stations = {}
    for pair in filter(None, (p.strip() for p in per_station.split(","))):
        station, _, spec = pair.partition("=")
        stations[station.strip()] = parse_zone(spec)
    return parse_zone(default), stations


def zone_for(station_id: str) -> dt.tzinfo:
    s = get_settings()
    default, stations = _zones(s.station_time_zone, s.station_time_zones)
    return stations.get(station_id, default)


def iso_in_zone(value: dt.datetime | None, station_id: str) -> str | None:
    """A stored (naive UTC) time as ISO 8601 with the station's offset."""
    if value is None:
        return None
    aware = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
    return aware.astimezone(zone_for(station_id)).isoformat(timespec="seconds")
