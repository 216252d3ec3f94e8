"""Business hours: a weekly timetable in a named time zone, with holidays. Pure.

Why wall-clock arithmetic: ``09:00`` means nine on the clock on the wall in ``timezone``,
whatever that zone's UTC offset is on the day. So the instant asked about (UTC seconds, given
by the caller: this module never reads a clock) is converted to local time with zoneinfo, and
only then compared with the timetable. Daylight-saving changes need no special case: on the
morning after the clocks go forward, 08:00 local is an hour earlier in UTC, and the
conversion says so.

Rules, in the order :func:`is_open` applies them:

- Intervals are ``HH:MM-HH:MM``, start inclusive, end exclusive; ``24:00`` is allowed as an
  end. An interval whose end is not after its start (``22:00-06:00``) is *overnight*: it
  belongs to the day it starts on and runs into the next morning.
- A holiday closes its whole local date, including the early hours that an overnight interval
  of the evening before would reach. A holiday may list special ``hours`` (same-day intervals
  only); those are then the only open times of that date.
- Otherwise the date is open in its weekday's intervals, plus the overnight tail of the
  previous day's intervals (unless the previous day was a holiday, whose schedule replaced it).
- In the hour a daylight-saving change repeats (autumn), local times occur twice and both
  count by the wall clock; in the hour it skips (spring), nothing happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # weekday() order
_DAY_SECONDS = 86400
_INTERVAL = re.compile(r"^(\d\d):(\d\d)\s*-\s*(\d\d):(\d\d)$")


@dataclass(frozen=True, slots=True)
class Interval:
    """Seconds after local midnight: ``start <= t < end``, or overnight when end <= start."""

    start: int
    end: int

    @property
    def overnight(self) -> bool:
        return self.end <= self.start

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def parse_interval(text: str) -> Interval:
    """``"09:00-17:00"`` -> Interval; ValueError says what a valid interval looks like."""
    match = _INTERVAL.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an interval like '09:00-17:00'")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} has a time outside 00:00..24:00")
    start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
    if start == end:
        raise ValueError(f"{text!r} is empty (use 00:00-24:00 for a whole day)")
    return Interval(start, end)


def _interval(value: Any) -> Any:
    return parse_interval(value) if isinstance(value, str) else value


IntervalField = Annotated[Interval, BeforeValidator(_interval), PlainSerializer(str)]


def _holiday(value: Any) -> Any:
    # A bare date (YAML reads 2026-12-25 as one; JSON gives a string) is a full-day closure.
    return {"date": value} if isinstance(value, str | date) else value


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: date
    hours: list[IntervalField] = []  # special opening hours that date; empty: closed all day

    @field_validator("hours")
    @classmethod
    def _same_day(cls, value: list[Interval]) -> list[Interval]:
        for item in value:
            if item.overnight:
                raise ValueError(f"holiday hours {item} cross midnight; give same-day intervals")
        return value


HolidayField = Annotated[Holiday, BeforeValidator(_holiday)]


class HoursSpec(BaseModel):
    """``{timezone: Europe/Paris, weekly: {mon: ["09:00-17:00"]}, holidays: [2026-12-25]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(min_length=1)
    weekly: dict[Day, list[IntervalField]] = {}
    holidays: list[HolidayField] = []

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as"
                             " 'Europe/Paris')") from None
        return value

    @field_validator("holidays")
    @classmethod
    def _distinct(cls, value: list[Holiday]) -> list[Holiday]:
        seen: set[date] = set()
        for item in value:
            if item.date in seen:
                raise ValueError(f"holiday {item.date.isoformat()} is listed twice")
            seen.add(item.date)
        return value

    def holiday_hours(self) -> dict[date, list[Interval]]:
        return {h.date: h.hours for h in self.holidays}


def is_open(spec: HoursSpec, when_utc: float) -> bool:
    """Whether ``spec`` is open at ``when_utc`` (seconds since the epoch, UTC)."""
    local = datetime.fromtimestamp(when_utc, ZoneInfo(spec.timezone))
    today = local.date()
    second = local.hour * 3600 + local.minute * 60 + local.second
    holidays = spec.holiday_hours()
    if today in holidays:
        return any(iv.start <= second < iv.end for iv in holidays[today])
    for iv in spec.weekly.get(DAYS[today.weekday()], []):
        if iv.start <= second and (iv.overnight or second < iv.end):
            return True
    yesterday = today - timedelta(days=1)
    if yesterday in holidays:
        return False
    return any(iv.overnight and second < iv.end
               for iv in spec.weekly.get(DAYS[yesterday.weekday()], []))
