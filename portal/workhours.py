"""Working-hour arithmetic for print deadlines (weekdays, office hours, Norwegian holidays)."""
from __future__ import annotations

from datetime import datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays


@lru_cache(maxsize=None)
def _norwegian_holidays(year: int) -> holidays.HolidayBase:
    return holidays.country_holidays("NO", years=year)


def is_holiday(day) -> bool:
    """A Norwegian public holiday (helligdag), from the `holidays` package."""
    return day in _norwegian_holidays(day.year)


def is_working_day(day) -> bool:
    return day.weekday() < 5 and not is_holiday(day)


def add_working_hours(start: datetime, hours: float, *, tz: str = "Europe/Oslo",
                      day_start: int = 8, day_end: int = 16) -> datetime:
    """The moment `hours` working hours after `start` (an aware datetime), in UTC."""
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    remaining = timedelta(hours=hours)
    opening, closing = time(day_start), time(day_end)
    while True:
        day = local.date()
        if is_working_day(day):
            open_at = datetime.combine(day, opening, zone)
            close_at = datetime.combine(day, closing, zone)
            begin = max(local, open_at)
            if begin < close_at:
                available = close_at - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
        local = datetime.combine(day + timedelta(days=1), opening, zone)
