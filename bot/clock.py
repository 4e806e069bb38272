"""Time for the scheduling logic: an injectable clock and the working-day calendar.

Everything that decides "is it due yet?" asks a `Clock` for the moment and a `WorkingCalendar`
for the days, so tests freeze time (freezegun) around those objects, never around a server.

Working days are Monday to Friday in the configured time zone, minus the Dutch public holidays
most employers give off: New Year's Day, Easter Monday, King's Day, Liberation Day in lustrum
years (2025, 2030, ...), Ascension Day, Whit Monday and both Christmas days. Good Friday and
Liberation Day in other years are ordinary working days for most collective agreements.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware in UTC."""
        ...


class SystemClock:
    """The real clock (freezegun moves it in tests)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def easter_sunday(year: int) -> date:
    """Western Easter (the anonymous Gregorian algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=64)
def dutch_public_holidays(year: int) -> frozenset[date]:
    easter = easter_sunday(year)
    kings_day = date(year, 4, 27)
    if kings_day.weekday() == 6:  # on a Sunday it moves to the Saturday before
        kings_day = date(year, 4, 26)
    days = {
        date(year, 1, 1),
        easter + timedelta(days=1),
        kings_day,
        easter + timedelta(days=39),
        easter + timedelta(days=50),
        date(year, 12, 25),
        date(year, 12, 26),
    }
    if year % 5 == 0:
        days.add(date(year, 5, 5))
    return frozenset(days)


class WorkingCalendar:
    """Working days and local wall-clock times in one time zone."""

    def __init__(self, timezone: str, *, public_holidays: bool = True):
        self.zone = ZoneInfo(timezone)
        self.public_holidays = public_holidays

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def at(self, day: date, wall_time: time) -> datetime:
        """The UTC moment of a local wall-clock time on a local day."""
        return datetime.combine(day, wall_time, tzinfo=self.zone).astimezone(UTC)

    def is_working_day(self, day: date) -> bool:
        if day.weekday() >= 5:
            return False
        return not (self.public_holidays and day in dutch_public_holidays(day.year))

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def previous_working_day(self, day: date) -> date:
        """The last working day before `day`."""
        day -= timedelta(days=1)
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def add_working_days(self, moment: datetime, count: int) -> datetime:
        """`count` working days after `moment`, at the same local time of day.

        A moment outside working days counts from the start of the next working day, so
        Saturday plus three working days is Thursday 00:00 (after Monday, Tuesday, Wednesday).
        """
        day, wall_time = self._counting_start(moment)
        for _ in range(count):
            day = self.next_working_day(day)
        return self.at(day, wall_time)

    def _counting_start(self, moment: datetime) -> tuple[date, time]:
        local = self.local(moment)
        day, wall_time = local.date(), local.time().replace(tzinfo=None)
        if not self.is_working_day(day):
            return self.next_working_day(day), time(0)
        return day, wall_time

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """How many whole working days lie between two moments (the inverse of
        `add_working_days`: the largest n with add_working_days(start, n) <= end)."""
        day, wall_time = self._counting_start(start)
        count = 0
        while True:
            day = self.next_working_day(day)
            if self.at(day, wall_time) > end:
                return count
            count += 1
