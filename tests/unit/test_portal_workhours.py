"""Working-hour arithmetic behind the print deadline (office hours 08-16 Europe/Oslo)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from portal.config import Settings
from portal.services.letters import print_deadline
from portal.workhours import add_working_hours, is_working_day

OSLO = ZoneInfo("Europe/Oslo")


def oslo(*args) -> datetime:
    return datetime(*args, tzinfo=OSLO)


@pytest.mark.parametrize("start, hours, expected", [
    # Tuesday 11:00, five whole working days later.
    (oslo(2026, 11, 24, 11), 40, oslo(2026, 12, 1, 11)),
    # Inside a single day, and exactly up to closing time.
    (oslo(2026, 11, 24, 11), 3, oslo(2026, 11, 24, 14)),
    (oslo(2026, 11, 24, 11), 5, oslo(2026, 11, 24, 16)),
    # One hour past what is left of the day rolls over to the next morning.
    (oslo(2026, 11, 24, 11), 6, oslo(2026, 11, 25, 9)),
    # Before opening: the clock starts at 08:00.
    (oslo(2026, 11, 24, 6, 30), 1, oslo(2026, 11, 24, 9)),
    # After closing on a Friday: nothing counts until Monday 08:00.
    (oslo(2026, 11, 27, 18), 40, oslo(2026, 12, 4, 16)),
    (oslo(2026, 11, 27, 16), 1, oslo(2026, 11, 30, 9)),
    # Saturday.
    (oslo(2026, 11, 28, 12), 8, oslo(2026, 11, 30, 16)),
    # Christmas 2026: 24 Dec (Thursday) is a working day, 25 Dec (Friday) is not.
    (oslo(2026, 12, 23, 10), 40, oslo(2026, 12, 31, 10)),
    # Christmas 2028: 25 and 26 Dec are Monday and Tuesday, and 1 Jan 2029 is a Monday.
    (oslo(2028, 12, 22, 12), 40, oslo(2029, 1, 3, 12)),
    # 17 May 2028 is a Wednesday.
    (oslo(2028, 5, 16, 8), 40, oslo(2028, 5, 23, 16)),
    # Easter 2026: Maundy Thursday to Easter Monday (2-6 April) are closed.
    (oslo(2026, 4, 1, 8), 16, oslo(2026, 4, 7, 16)),
    # Office hours are local: across the end of summer time (25 Oct 2026).
    (oslo(2026, 10, 23, 15), 40, oslo(2026, 10, 30, 15)),
])
def test_add_working_hours(start, hours, expected):
    due = add_working_hours(start.astimezone(timezone.utc), hours)

    assert due == expected
    assert due.utcoffset().total_seconds() == 0  # handed back in the caller's zone (UTC)


def test_deadline_across_summer_time_is_in_local_office_hours():
    start = datetime(2026, 10, 23, 13, 0, tzinfo=timezone.utc)  # Friday 15:00 CEST
    due = add_working_hours(start, 40)
    # Friday 30 October 15:00 CET is 14:00 UTC, one hour later in UTC terms than the start.
    assert due == datetime(2026, 10, 30, 14, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("day, working", [
    (date(2026, 11, 24), True),    # Tuesday
    (date(2026, 11, 28), False),   # Saturday
    (date(2026, 11, 29), False),   # Sunday
    (date(2026, 12, 24), True),    # Christmas Eve is not a public holiday
    (date(2026, 12, 25), False),
    (date(2028, 12, 26), False),
    (date(2027, 1, 1), False),
    (date(2028, 5, 17), False),
    (date(2026, 5, 14), False),    # Ascension Day
    (date(2026, 5, 25), False),    # Whit Monday
    (date(2026, 5, 18), True),
])
def test_is_working_day(day, working):
    assert is_working_day(day) is working


def test_print_deadline_follows_the_settings():
    sent = datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc)  # Tuesday 11:00 in Oslo

    assert print_deadline(Settings(), sent) == datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)
    shorter = Settings(print_deadline_working_hours=8, workday_start_hour=9,
                       workday_end_hour=15)
    # 11-15 on Tuesday (4 h), then 9-13 on Wednesday.
    assert print_deadline(shorter, sent) == datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
