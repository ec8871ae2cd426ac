"""Cron schedules for cron checks: validation of expressions and time zones, and the next fire
time of an expression in an IANA zone, with Debian/Vixie cron semantics (the ones Healthchecks'
cronsim implements). croniter is only asked for naive local wall-clock matches, here turned into
UTC instants by the cron rules around DST: "wildcard" jobs (minute or hour field starting with
``*``) fire at every real instant whose local time matches, so twice in a repeated hour and never
in a skipped one, while fixed-time jobs fire once, at the first occurrence of a repeated time, and
at the end of the gap when their local time is skipped. croniter is imported lazily so the ping
path's cold start does not pay for it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from heapq import merge
from typing import TYPE_CHECKING, Any

from chalicelib.tzlinks import LEGACY_ZONES

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

MAX_SCHEDULE_LENGTH = 100
MAX_TZ_LENGTH = 36

_BAD_SCHEDULE = "schedule is not a valid cron or OnCalendar expression"
_BAD_TZ = "tz is not a valid timezone"
_ZERO = timedelta(0)
_MINUTE = timedelta(minutes=1)
# Longer than any real UTC offset change (Antarctica/Troll: 2 h). The wildcard search looks this
# far around an instant for a clock that falls back; it assumes one change per window at most.
_OFFSET_WINDOW = timedelta(hours=3)
# Healthchecks checks that an expression fires at all by computing one fire from this moment.
_VALIDATION_START = datetime(2000, 1, 1)

_MINUTE_F, _HOUR_F, _DOM_F, _MONTH_F, _DOW_F = range(5)
_FIELD_MAX = (59, 23, 31, 12, 7)
_NAMES = {
    _MONTH_F: (
        *("", "JAN", "FEB", "MAR", "APR", "MAY", "JUN"),
        *("JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
    ),
    _DOW_F: ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"),
}
_VALUE = r"(?:[0-9]+|[A-Z]{3})"
_RANGE_TERM = re.compile(rf"(?:\*|(?P<lo>{_VALUE})(?:-(?P<hi>{_VALUE}))?)(?:/(?P<step>[0-9]+))?")
# `5#2`: the second Friday of the month; `5L`: the last Friday.
_WEEKDAY_OF_MONTH = re.compile(rf"(?P<day>{_VALUE})(?:#(?P<nth>[0-9]+)|L)")

_TZ_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")
# Loadable from the tz database but not places: a user's zone must name a real region.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})
_NOT_ZONE_DIRS = ("posix/", "right/")


class InvalidSchedule(ValueError):
    """The cron expression is not one Vigil (and Healthchecks) accepts."""


class InvalidTimezone(ValueError):
    """The time zone is not a usable IANA zone name."""


# --- public API -----------------------------------------------------------------------------


def validate_cron(expr: str) -> None:
    """Accept a 5-field cron expression that fires at least once; else raise InvalidSchedule."""
    cron = _parse(expr)
    # A well-formed expression can still never match (`0 0 30 2 *`); croniter gives up after a
    # bounded search (50 years), which ends the stream instead of looping.
    if next(_walls(cron, _VALIDATION_START), None) is None:
        raise InvalidSchedule(_BAD_SCHEDULE)


def validate_tz(name: str) -> str:
    """Return the canonical IANA name for ``name`` (legacy links mapped); else InvalidTimezone."""
    if not isinstance(name, str):
        raise InvalidTimezone(_BAD_TZ)
    if len(name) > MAX_TZ_LENGTH:
        raise InvalidTimezone("tz is too long")
    canonical = LEGACY_ZONES.get(name, name)
    # The pattern admits no "." or leading "/", so ZoneInfo never sees a path outside the tz
    # database; the denylist drops files in it that are not places.
    if (
        not _TZ_NAME.fullmatch(canonical)
        or canonical in _NOT_ZONES
        or canonical.startswith(_NOT_ZONE_DIRS)
    ):
        raise InvalidTimezone(_BAD_TZ)
    from zoneinfo import ZoneInfo  # deferred: its tz path lookup costs a cold ping 2 ms

    try:
        ZoneInfo(canonical)
    except Exception:  # not found, a directory, not a TZif file, ...: all mean "not a zone"
        raise InvalidTimezone(_BAD_TZ) from None
    return canonical


def next_fire(expr: str, tz: str, after: datetime) -> datetime:
    """The first fire of ``expr`` in zone ``tz`` strictly after ``after``, in UTC."""
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be timezone-aware")
    from zoneinfo import ZoneInfo  # deferred: only cron checks need a zone

    cron = _parse(expr)
    zone = ZoneInfo(validate_tz(tz))
    moment = after.astimezone(UTC)
    if cron.wildcard:
        return _next_wildcard_fire(cron, zone, moment)
    return _next_fixed_fire(cron, zone, moment)


# --- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cron:
    """A checked expression: whether Debian cron treats it as a wildcard job, and croniter
    expressions (all evaluated with day-of-month AND day-of-week) whose matches together are its
    matches."""

    wildcard: bool
    parts: tuple[str, ...]


def _parse(expr: str) -> _Cron:
    if not isinstance(expr, str):
        raise InvalidSchedule(_BAD_SCHEDULE)
    if len(expr) > MAX_SCHEDULE_LENGTH:
        raise InvalidSchedule("schedule is too long")
    fields = expr.upper().split()
    if "\n" in expr or "\r" in expr or len(fields) != 5:
        raise InvalidSchedule(_BAD_SCHEDULE)
    minute, hour, dom, month = (_field(index, fields[index]) for index in range(_DOW_F))
    weekdays = [_term(_DOW_F, term) for term in fields[_DOW_F].split(",")]
    # croniter refuses `#`/`L` weekdays listed with plain ones; a list is a union, so split it.
    plain = [term for term in weekdays if "#" not in term and "L" not in term]
    special = [term for term in weekdays if term not in plain]
    weekday_sets = [",".join(plain)] * bool(plain) + special
    rest = f"{minute} {hour}"
    if fields[_DOM_F].startswith("*") or fields[_DOW_F].startswith("*"):
        # Debian cron: a leading "*" in either day field makes both apply (AND).
        parts = [f"{rest} {dom} {month} {days}" for days in weekday_sets]
    else:
        # Both restricted: either may match (OR), so each side is its own expression.
        parts = [f"{rest} {dom} {month} *"] + [f"{rest} * {month} {days}" for days in weekday_sets]
    # Debian cron's MIN_STAR/HR_STAR flags: a leading "*" only, so `0-59 3 * * *` is a
    # fixed-time job although it fires every minute of hour 3.
    wildcard = fields[_MINUTE_F].startswith("*") or fields[_HOUR_F].startswith("*")
    return _Cron(wildcard, tuple(parts))


def _field(index: int, field: str) -> str:
    return ",".join(_term(index, term) for term in field.split(","))


def _term(field: int, term: str) -> str:
    """``term`` in croniter syntax with cron's (cronsim's) meaning; InvalidSchedule if not cron.

    croniter accepts more than cron (`?`, `R`, `H`, `15W`, wrapping `FRI-MON`) and reads some cron
    differently: `a-a` as the whole field, `a/n` in the weekday field as ending at 6 where cron's
    weekdays run to 7 (Sunday again), and cron's last-weekday `5L` is croniter's `L5`. Names
    become numbers so that range order can be checked.
    """
    if field == _DOM_F and term == "L":
        return term
    last_or_nth = _WEEKDAY_OF_MONTH.fullmatch(term) if field == _DOW_F else None
    if last_or_nth is not None:
        day = _number(field, last_or_nth["day"])
        _require(day <= _FIELD_MAX[field])
        return f"L{day}" if last_or_nth["nth"] is None else f"{day}#{last_or_nth['nth']}"
    match = _RANGE_TERM.fullmatch(term)
    if match is None:
        raise InvalidSchedule(_BAD_SCHEDULE)
    step = None if match["step"] is None else int(match["step"])
    _require(step != 0)
    if match["lo"] is None:
        return term  # `*` and `*/n` mean the same to both
    lo = _number(field, match["lo"])
    hi = lo if match["hi"] is None else _number(field, match["hi"])
    if step is not None and lo == hi:
        hi = _FIELD_MAX[field]  # `a/n`, and (cronsim) `a-a/n`: from a to the field's end
    _require(lo <= hi)
    if lo == hi:
        return str(lo)
    return f"{lo}-{hi}" if step is None else f"{lo}-{hi}/{step}"


def _number(field: int, value: str) -> int:
    """A field value as a number; names only in the month and weekday fields.

    Numeric limits are left to croniter, which rejects the values cron does.
    """
    if value.isdigit():
        return int(value)
    names = _NAMES.get(field, ())
    _require(value in names and value != "")
    return names.index(value)


def _require(condition: bool) -> None:
    if not condition:
        raise InvalidSchedule(_BAD_SCHEDULE)


# --- local wall-clock matches (croniter) ----------------------------------------------------


def _walls(cron: _Cron, start: datetime) -> Iterator[datetime]:
    """Naive local times matching ``cron`` strictly after naive ``start``, ascending, unique."""
    previous = None
    # Duplicate parts (`5L,5L`) would share one cached croniter below; their walls are equal.
    parts = dict.fromkeys(cron.parts)
    for wall in merge(*(_croniter_walls(part, start) for part in parts)):
        if wall != previous:
            previous = wall
            yield wall


def _croniter_walls(expr: str, start: datetime) -> Iterator[datetime]:
    from croniter import CroniterBadDateError  # type: ignore[import-untyped, unused-ignore]

    it = _croniter_at(expr, start)
    while True:
        try:
            wall: datetime = it.get_next(datetime)
        except (CroniterBadDateError, OverflowError):
            return  # no match within croniter's search bound, or past datetime.max
        except Exception:
            raise InvalidSchedule(_BAD_SCHEDULE) from None
        yield wall


# Building a croniter parses and expands the expression (about 100 us, two thirds of a
# next_fire); a ping of a cron check needs one next_fire, so each thread keeps the iterators it
# built and moves them to a new start instead. Per thread: an iterator is stateful, and one
# next_fire finishes with it before the next one starts it again.
_CRONITER_CACHE_SIZE = 256
_iterators = threading.local()


def _croniter_at(expr: str, start: datetime) -> Any:
    from croniter import croniter  # type: ignore[import-untyped, unused-ignore]

    cache: dict[str, Any] = _iterators.__dict__.setdefault("cache", {})
    it = cache.get(expr)
    if it is not None:
        it.set_current(start, force=True)
        return it
    try:
        it = croniter(expr, start, day_or=False)
    except Exception:  # croniter raises assorted types (ValueError, KeyError, ...) for bad input
        raise InvalidSchedule(_BAD_SCHEDULE) from None
    if len(cache) >= _CRONITER_CACHE_SIZE:
        cache.clear()
    cache[expr] = it
    return it


# --- local wall-clock times to UTC instants -------------------------------------------------


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return moment.astimezone(zone).replace(tzinfo=None)


def _occurrences(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """The real instants (UTC) at which the clock in ``zone`` shows ``wall``: 0, 1 or 2."""
    found: list[datetime] = []
    for fold in (0, 1):  # zoneinfo: fold=0 is the earlier of two occurrences
        moment = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        # In a gap the clock never shows ``wall``: converting back lands elsewhere.
        if _local(moment, zone) == wall and moment not in found:
            found.append(moment)
    return found


def _fixed_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """When a fixed-time job set for ``wall`` runs: the first occurrence of a repeated time, and
    the first existing minute after a skipped one (cron runs jobs skipped by a jump forward then).
    """
    occurrences = _occurrences(wall, zone)
    while not occurrences:
        wall += _MINUTE
        occurrences = _occurrences(wall, zone)
    return occurrences[0]


def _fall_back(zone: ZoneInfo, start: datetime) -> timedelta:
    """How far the clock in ``zone`` is set back within the window from UTC ``start``."""
    before = start.astimezone(zone).utcoffset()
    later = (start + _OFFSET_WINDOW).astimezone(zone).utcoffset()
    assert before is not None and later is not None  # ZoneInfo always has an offset
    return max(_ZERO, before - later)


def _next_fixed_fire(cron: _Cron, zone: ZoneInfo, moment: datetime) -> datetime:
    # _fixed_instant never decreases as the wall time grows, and the wall time of ``moment``
    # maps to ``moment`` or earlier, so the first match past it is the answer. If ``moment`` is
    # in the second pass of a repeated hour, its matches there map to the first pass, before it,
    # and are skipped: the job already ran.
    for wall in _walls(cron, _local(moment, zone)):
        fire = _fixed_instant(wall, zone)
        if fire > moment:
            return fire
    raise InvalidSchedule(_BAD_SCHEDULE)


def _next_wildcard_fire(cron: _Cron, zone: ZoneInfo, moment: datetime) -> datetime:
    # Wall times are scanned in order, but when the clock falls back, later instants have earlier
    # wall times: a second-pass 03:00 comes after a first-pass 03:45. So the scan starts early by
    # the fall back ahead of ``moment``, and continues past the wall time of the best instant so
    # far by the fall back just before it (a later wall time can still be an earlier instant).
    best: datetime | None = None
    horizon: datetime | None = None
    for wall in _walls(cron, _local(moment, zone) - _fall_back(zone, moment)):
        if horizon is not None and wall > horizon:
            break
        for fire in _occurrences(wall, zone):  # none in a gap: the clock never shows it
            if fire > moment and (best is None or fire < best):
                best = fire
                horizon = _local(best, zone) + _fall_back(zone, best - _OFFSET_WINDOW)
    if best is None:
        raise InvalidSchedule(_BAD_SCHEDULE)
    return best
