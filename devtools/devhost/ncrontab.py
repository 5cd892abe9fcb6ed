"""Timer trigger schedules: NCRONTAB expressions (six fields, seconds first) and TimeSpan intervals.

`{second} {minute} {hour} {day} {month} {day-of-week}`; each field takes `*`, numbers, lists
(`1,5`), ranges (`1-5`) and steps (`*/5`, `10-40/10`, `5/15`); months and days of the week also
take English three-letter names. Day-of-week runs 0-6 from Sunday. As in the NCrontab library
the host uses, a time must match BOTH the day-of-month and the day-of-week field (classic cron
matches either when both are restricted). Times are UTC, the platform's default on Linux.
https://learn.microsoft.com/azure/azure-functions/functions-bindings-timer#ncrontab-expressions
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from devtools.devhost.config import parse_timespan

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    name_base: int = 0


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day", 1, 31),
    _Field("month", 1, 12, tuple(_MONTHS), 1),
    _Field("day-of-week", 0, 6, tuple(_WEEKDAYS), 0),
)
_SEARCH_YEARS = 30  # long enough for "Feb 29 on a Monday" (every 28 years at worst)


class Schedule(Protocol):
    def next_after(self, moment: datetime) -> datetime: ...


@dataclass(frozen=True)
class IntervalSchedule:
    """A TimeSpan schedule (`00:05:00`): every interval, counted from the previous run."""

    interval: timedelta

    def next_after(self, moment: datetime) -> datetime:
        return moment + self.interval


@dataclass(frozen=True)
class CronSchedule:
    expression: str
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) != len(_FIELDS):
            raise ValueError(
                f"NCRONTAB {expression!r} has {len(parts)} fields; it needs 6: "
                "second minute hour day month day-of-week"
            )
        sets = [_parse_field(part, spec) for part, spec in zip(parts, _FIELDS, strict=True)]
        return cls(expression, *sets)

    def next_after(self, moment: datetime) -> datetime:
        """The first matching time strictly after `moment` (whole seconds, UTC)."""
        start = moment.astimezone(UTC).replace(microsecond=0) + timedelta(seconds=1)
        candidate = start
        while candidate.year <= start.year + _SEARCH_YEARS:
            step = self._advance(candidate)
            if step is None:
                return candidate
            candidate = step
        raise ValueError(f"NCRONTAB {self.expression!r} never matches")

    def _advance(self, t: datetime) -> datetime | None:
        """None if `t` matches; else the earliest time that could, skipping the unit that failed."""
        if t.month not in self.months:
            return _first_of_next_month(t)
        if t.day not in self.days or (t.weekday() + 1) % 7 not in self.weekdays:
            return t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
        if t.hour not in self.hours:
            return t.replace(minute=0, second=0) + timedelta(hours=1)
        if t.minute not in self.minutes:
            return t.replace(second=0) + timedelta(minutes=1)
        if t.second not in self.seconds:
            return t + timedelta(seconds=1)
        return None


def _first_of_next_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)


def _parse_field(text: str, spec: _Field) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(item, spec))
    return frozenset(values)


def _parse_item(item: str, spec: _Field) -> range:
    body, _, step_text = item.partition("/")
    step = _number(step_text, spec, is_step=True) if step_text else 1
    if body == "*":
        low, high = spec.low, spec.high
    elif "-" in body:
        first, _, last = body.partition("-")
        low, high = _number(first, spec), _number(last, spec)
    else:
        low = _number(body, spec)
        high = spec.high if step_text else low
    if low > high:
        raise ValueError(f"{spec.name} range {item!r} runs backwards")
    return range(low, high + 1, step)


def _number(text: str, spec: _Field, *, is_step: bool = False) -> int:
    lowered = text.strip().lower()
    if not is_step and lowered in spec.names:
        return spec.names.index(lowered) + spec.name_base
    if not lowered.isdigit():
        raise ValueError(f"{spec.name} field: {text!r} is not a number")
    value = int(lowered)
    if is_step:
        if value < 1:
            raise ValueError(f"{spec.name} field: step must be at least 1")
        return value
    if not spec.low <= value <= spec.high:
        raise ValueError(f"{spec.name} field: {value} is outside {spec.low}-{spec.high}")
    return value


def parse_schedule(text: str) -> Schedule:
    """An NCRONTAB expression, or a TimeSpan (`hh:mm:ss`) interval as App Service plans allow."""
    stripped = text.strip()
    if " " not in stripped and ":" in stripped:
        seconds = parse_timespan(stripped)
        if seconds <= 0:
            raise ValueError(f"TimeSpan schedule {text!r} must be positive")
        return IntervalSchedule(timedelta(seconds=seconds))
    return CronSchedule.parse(stripped)
