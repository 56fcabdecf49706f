"""When the caseworkers answer the queue: STAFF_OPENING_HOURS, closed on Norwegian holidays.

The setting is groups separated by ';' or ',': "mon-fri 08:00-15:30; sat 10:00-13:00".
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Dict, Optional, Tuple
from zoneinfo import ZoneInfo

from portal.workhours import is_holiday

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
GROUP = re.compile(r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
                   r"(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})\s*$")
Hours = Dict[int, Tuple[time, time]]


@dataclass(frozen=True)
class QueueStatus:
    """Whether the queue is staffed at a moment, and when it next opens (None: open now)."""

    open: bool
    next_open: Optional[datetime]


def _time(text: str) -> time:
    hour, minute = (int(part) for part in text.split(":"))
    return time(hour, minute)


@lru_cache(maxsize=32)
def parse(spec: str) -> Hours:
    """Weekday (0 = Monday) to (opening, closing); ValueError for a malformed setting."""
    hours: Hours = {}
    for group in filter(None, (g.strip() for g in re.split(r"[;,]", spec.lower()))):
        match = GROUP.match(group)
        if not match or match["first"] not in DAYS or (match["last"] or "mon") not in DAYS:
            raise ValueError(f"STAFF_OPENING_HOURS: cannot read {group!r} "
                             "(expected e.g. 'mon-fri 08:00-15:30').")
        first = DAYS.index(match["first"])
        last = DAYS.index(match["last"]) if match["last"] else first
        opening, closing = _time(match["open"]), _time(match["close"])
        if not opening < closing or last < first:
            raise ValueError(f"STAFF_OPENING_HOURS: {group!r} is empty.")
        for day in range(first, last + 1):
            hours[day] = (opening, closing)
    if not hours:
        raise ValueError("STAFF_OPENING_HOURS names no opening hours.")
    return hours


def status(spec: str, moment: datetime, tz: str = "Europe/Oslo") -> QueueStatus:
    """Open now, or the next opening (an aware datetime in the moment's zone)."""
    hours, zone = parse(spec), ZoneInfo(tz)
    local = moment.astimezone(zone)
    for offset in range(0, 30):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in hours or is_holiday(day):
            continue
        opening, closing = hours[day.weekday()]
        open_at = datetime.combine(day, opening, zone)
        close_at = datetime.combine(day, closing, zone)
        if offset == 0 and open_at <= local < close_at:
            return QueueStatus(True, None)
        if local < open_at:
            return QueueStatus(False, open_at.astimezone(moment.tzinfo))
    raise ValueError("STAFF_OPENING_HOURS opens on no day in the next 30 days.")

