"""Business hours: wall-clock intervals in a time zone, DST, overnight ranges, holidays."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from switch.ivr.hours import HoursSpec, is_open, parse_interval

from .driver import local, utc

WEEKDAYS = {d: ["08:00-20:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def spec(**fields: Any) -> HoursSpec:
    return HoursSpec.model_validate({"timezone": "Europe/London", "weekly": WEEKDAYS,
                                     **fields})


def test_start_is_inclusive_and_end_exclusive() -> None:
    hours = spec()
    assert not is_open(hours, local("2026-03-02 07:59:59"))
    assert is_open(hours, local("2026-03-02 08:00"))
    assert is_open(hours, local("2026-03-02 19:59:59"))
    assert not is_open(hours, local("2026-03-02 20:00"))


def test_days_without_intervals_are_closed() -> None:
    hours = spec(weekly={**WEEKDAYS, "sat": ["09:00-13:00"]})
    assert is_open(hours, local("2026-03-07 10:00"))  # Saturday
    assert not is_open(hours, local("2026-03-07 13:00"))
    assert not is_open(hours, local("2026-03-08 10:00"))  # Sunday


def test_several_intervals_a_day() -> None:
    hours = spec(weekly={"mon": ["08:00-12:00", "13:00-17:00"]})
    assert is_open(hours, local("2026-03-02 11:00"))
    assert not is_open(hours, local("2026-03-02 12:30"))
    assert is_open(hours, local("2026-03-02 13:00"))


def test_spring_forward_moves_opening_an_hour_earlier_in_utc() -> None:
    hours = spec()
    # London goes to BST on Sunday 29 March 2026: 08:00 local is 08:00 UTC before, 07:00 after.
    assert not is_open(hours, utc("2026-03-23 07:30"))  # 07:30 GMT
    assert is_open(hours, utc("2026-03-30 07:30"))  # 08:30 BST
    assert is_open(hours, utc("2026-03-30 18:59"))  # 19:59 BST
    assert not is_open(hours, utc("2026-03-30 19:00"))  # 20:00 BST


def test_fall_back_moves_it_back() -> None:
    hours = spec()
    # BST ends on Sunday 25 October 2026.
    assert is_open(hours, utc("2026-10-19 07:30"))  # 08:30 BST
    assert not is_open(hours, utc("2026-10-26 07:30"))  # 07:30 GMT
    assert is_open(hours, utc("2026-10-26 08:00"))


def test_zones_change_on_their_own_dates() -> None:
    new_york = HoursSpec.model_validate({"timezone": "America/New_York",
                                         "weekly": {"mon": ["09:00-17:00"],
                                                    "fri": ["09:00-17:00"]}})
    # New York went to EDT on 8 March 2026, three weeks before London.
    assert not is_open(new_york, utc("2026-03-06 13:30"))  # Friday 08:30 EST
    assert is_open(new_york, utc("2026-03-09 13:30"))  # Monday 09:30 EDT
    london = spec()
    assert not is_open(london, utc("2026-03-09 07:30"))  # still GMT in London


def test_overnight_interval_runs_into_the_next_morning() -> None:
    hours = spec(weekly={"fri": ["22:00-06:00"]})
    assert not is_open(hours, local("2026-03-06 21:59"))
    assert is_open(hours, local("2026-03-06 22:00"))
    assert is_open(hours, local("2026-03-07 05:59"))  # Saturday morning: Friday's interval
    assert not is_open(hours, local("2026-03-07 06:00"))
    assert not is_open(hours, local("2026-03-07 23:00"))  # Saturday has no interval
    assert not is_open(hours, local("2026-03-06 03:00"))  # Thursday had none to spill


def test_overnight_interval_across_the_spring_change_counts_wall_time() -> None:
    hours = spec(weekly={"sat": ["22:00-06:00"]})
    # The night of 28-29 March 2026 is one hour shorter; 06:00 BST is 05:00 UTC.
    assert is_open(hours, utc("2026-03-28 22:30"))
    assert is_open(hours, utc("2026-03-29 04:30"))  # 05:30 BST
    assert not is_open(hours, utc("2026-03-29 05:30"))  # 06:30 BST


def test_whole_day_and_midnight_end() -> None:
    hours = spec(weekly={"sun": ["00:00-24:00"], "sat": ["18:00-24:00"]})
    assert is_open(hours, local("2026-03-08 00:00"))
    assert is_open(hours, local("2026-03-08 23:59:59"))
    assert is_open(hours, local("2026-03-07 23:59"))
    assert not is_open(hours, local("2026-03-09 00:00"))  # Monday


def test_holiday_closes_the_whole_date() -> None:
    hours = spec(holidays=["2026-12-25"])
    assert not is_open(hours, local("2026-12-25 10:00"))  # a Friday
    assert is_open(hours, local("2026-12-24 10:00"))


def test_holiday_with_special_hours() -> None:
    hours = spec(holidays=[{"date": "2026-12-24", "hours": ["08:00-12:00"]}])
    assert is_open(hours, local("2026-12-24 11:59"))
    assert not is_open(hours, local("2026-12-24 12:00"))


def test_holiday_cuts_the_overnight_tail_of_the_evening_before() -> None:
    hours = spec(weekly={"thu": ["22:00-06:00"], "fri": ["22:00-06:00"]},
                 holidays=["2026-12-25"])
    assert is_open(hours, local("2026-12-24 23:00"))  # Thursday evening still open
    assert not is_open(hours, local("2026-12-25 02:00"))  # the holiday's early hours
    assert not is_open(hours, local("2026-12-25 23:00"))  # holiday replaces Friday's interval
    assert not is_open(hours, local("2026-12-26 02:00"))  # so nothing spills into Saturday


def test_yaml_dates_are_accepted() -> None:
    import datetime

    hours = spec(holidays=[datetime.date(2026, 12, 25)])
    assert not is_open(hours, local("2026-12-25 10:00"))


@pytest.mark.parametrize("text", ["9-5", "09:00", "25:00-26:00", "09:60-10:00",
                                  "09:00-09:00", "24:30-01:00"])
def test_bad_intervals_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_interval(text)


@pytest.mark.parametrize(("fields", "where", "words"), [
    ({"timezone": "Europe/Londn"}, ("timezone",), "unknown time zone 'Europe/Londn'"),
    ({"timezone": "../../etc/passwd"}, ("timezone",), "unknown time zone"),
    ({"weekly": {"mon": ["8-5"]}}, ("weekly", "mon", 0), "not an interval"),
    ({"weekly": {"monday": ["08:00-17:00"]}}, ("weekly", "monday", "[key]"), "'mon'"),
    ({"holidays": ["2026-02-30"]}, ("holidays", 0, "date"), "date"),
    ({"holidays": ["2026-12-25", "2026-12-25"]}, ("holidays",), "listed twice"),
    ({"holidays": [{"date": "2026-12-24", "hours": ["22:00-02:00"]}]},
     ("holidays", 0, "hours"), "cross midnight"),
])
def test_bad_specs_name_the_field(fields: dict[str, Any], where: tuple[Any, ...],
                                  words: str) -> None:
    with pytest.raises(ValidationError) as info:
        HoursSpec.model_validate({"timezone": "Europe/London", **fields})
    [error] = info.value.errors()
    assert error["loc"] == where
    assert words in error["msg"]


def test_intervals_print_as_written() -> None:
    hours = spec(weekly={"mon": ["08:00-20:00"], "sat": ["22:00-24:00"]})
    assert hours.model_dump(mode="json")["weekly"] == {"mon": ["08:00-20:00"],
                                                        "sat": ["22:00-24:00"]}
