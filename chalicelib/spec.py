"""Validation of management API bodies, with Healthchecks' exact error texts (hc-protocol §3.5).

Types are strict, as in Healthchecks' pydantic ``Spec``: ``null``, a string for a number, or a
bool for a number are all 400s. Unknown fields are ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib import dependencies, quiet, schedule
from chalicelib.errors import BadRequest, ValidationFailed
from chalicelib.inputs import has_controls, has_surrogates

MIN_PERIOD_SECONDS = 60
MAX_PERIOD_SECONDS = 31_536_000
MAX_NAME_LENGTH = 100
MAX_TAGS_LENGTH = 500
MAX_KEYWORDS_LENGTH = 200
# Healthchecks has no limit; a DynamoDB item has 400 KB, and every ping rewrites the check
# item and pays a write unit per KB of it, so Vigil caps desc here and the whole stored check
# at ``items.MAX_CHECK_ITEM_BYTES``.
MAX_DESC_LENGTH = 10_000
# Matched with fullmatch: ``$`` would let a trailing newline through.
SLUG_PATTERN = re.compile(r"[a-z0-9\-_]*")
UNIQUE_FIELDS = ("name", "slug", "tags", "timeout", "grace")
MAX_THRESHOLD = 100


@dataclass(frozen=True)
class CheckSpec:
    """Only the fields the client sent are set; the rest stay None."""

    name: str | None = None
    slug: str | None = None
    tags: str | None = None
    desc: str | None = None
    timeout: int | None = None
    grace: int | None = None
    schedule: str | None = None
    tz: str | None = None
    max_duration: int | None = None
    stall_timeout: int | None = None
    min_duration: int | None = None
    fail_threshold: int | None = None
    recover_threshold: int | None = None
    repeat_every: int | None = None
    quiet: tuple[quiet.QuietWindow, ...] | None = None
    depends_on: tuple[str, ...] | None = None
    manual_resume: bool | None = None
    methods: str | None = None
    start_kw: str | None = None
    success_kw: str | None = None
    failure_kw: str | None = None
    filter_subject: bool | None = None
    filter_body: bool | None = None
    filter_http_body: bool | None = None
    filter_default_fail: bool | None = None
    channels: str | None = None
    unique: tuple[str, ...] = field(default_factory=tuple)
    # ``subject``/``subject_fail`` sent without ``filter_subject``: filter by the keywords.
    subject_implies_filter: bool = False

    def changes(self) -> dict[str, Any]:
        """The check fields this spec sets (``channels`` and ``unique`` are handled apart)."""
        return {
            name: value
            for name, value in vars(self).items()
            if value is not None and name not in _NOT_CHECK_FIELDS
        }


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        # RecursionError: deeply nested arrays exhaust the decoder's stack, not ours to give.
        raise BadRequest("could not parse request body") from None
    if not isinstance(body, dict):
        raise ValidationFailed("value is not an object")
    return body


def parse_check_spec(body: Mapping[str, Any]) -> CheckSpec:
    fields: dict[str, Any] = {}
    for name, validate in _VALIDATORS.items():
        if name in body:
            fields[name] = validate(name, body[name])
    # Deprecated email-subject fields map to the keywords, as in Healthchecks, and turn
    # subject filtering on or off by the keywords the check ends up with, unless the
    # request says ``filter_subject`` itself: then that wins.
    for old, new in (("subject", "success_kw"), ("subject_fail", "failure_kw")):
        if old in body:
            fields[new] = _string(MAX_KEYWORDS_LENGTH)(old, body[old])
            fields["subject_implies_filter"] = "filter_subject" not in body
    return CheckSpec(**fields)


def _string(max_length: int | None) -> Callable[[str, Any], str]:
    def validate(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ValidationFailed(f"{name} is not a string")
        if max_length is not None and len(value) > max_length:
            raise ValidationFailed(f"{name} is too long")
        if has_surrogates(value):
            # Valid JSON, but no UTF-8 encoder (boto3's included) can write it.
            raise ValidationFailed(f"{name} is not a valid string")
        return value

    return validate


def _line(max_length: int) -> Callable[[str, Any], str]:
    """A one-line string: names and tags end up in email subjects, alert text and badges."""
    text = _string(max_length)

    def validate(name: str, value: Any) -> str:
        line = text(name, value)
        if has_controls(line):
            raise ValidationFailed(f"{name} contains control characters")
        return line

    return validate


def _boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{name} is not a boolean")
    return value


def _slug(name: str, value: Any) -> str:
    slug = _string(MAX_NAME_LENGTH)(name, value)
    if not SLUG_PATTERN.fullmatch(slug):
        raise ValidationFailed(f"{name} does not match pattern")
    return slug


def _period(name: str, value: Any) -> int:
    return _number(name, value, MIN_PERIOD_SECONDS, MAX_PERIOD_SECONDS)


def _number(name: str, value: Any, low: int, high: int) -> int:
    # bool is an int subclass in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{name} is not a number")
    if value < low:
        raise ValidationFailed(f"{name} is too small")
    if value > high:
        raise ValidationFailed(f"{name} is too large")
    return value


def _period_or_off(name: str, value: Any) -> int:
    """0 turns the rule off; otherwise a period like timeout's (60 s to a year)."""
    if value == 0 and not isinstance(value, bool):
        return 0
    return _period(name, value)


def _duration_or_off(name: str, value: Any) -> int:
    return _number(name, value, 0, MAX_PERIOD_SECONDS)


def _threshold(name: str, value: Any) -> int:
    return _number(name, value, 1, MAX_THRESHOLD)


def _quiet(name: str, value: Any) -> tuple[quiet.QuietWindow, ...]:
    if not isinstance(value, list):
        raise ValidationFailed(f"{name} is not an array")
    if len(value) > quiet.MAX_WINDOWS:
        raise ValidationFailed(f"{name} is too long")
    windows = []
    for item in value:
        if not isinstance(item, dict):
            raise ValidationFailed(f"an item in '{name}' is not an object")
        try:
            windows.append(quiet.parse_window(item, f"an item in '{name}':"))
        except ValueError as problem:
            raise ValidationFailed(str(problem)) from None
    return tuple(windows)


def _schedule(name: str, value: Any) -> str:
    expr = _string(100)(name, value)
    try:
        schedule.validate_cron(expr)
    except schedule.InvalidSchedule:
        raise ValidationFailed(f"{name} is not a valid cron or OnCalendar expression") from None
    return expr


def _tz(name: str, value: Any) -> str:
    zone = _string(None)(name, value)
    try:
        return schedule.validate_tz(zone)
    except schedule.InvalidTimezone:
        raise ValidationFailed(f"{name} is not a valid timezone") from None


def _methods(name: str, value: Any) -> str:
    methods = _string(None)(name, value)
    if methods not in ("", "POST"):
        raise ValidationFailed(f"{name} has unexpected value")
    return methods


def _unique(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValidationFailed(f"{name} is not an array")
    for item in value:
        if item not in UNIQUE_FIELDS:
            raise ValidationFailed(f"an item in '{name}' has unexpected value")
    return tuple(value)


_NOT_CHECK_FIELDS = ("channels", "unique", "subject_implies_filter")

_VALIDATORS: dict[str, Callable[[str, Any], Any]] = {
    "name": _line(MAX_NAME_LENGTH),
    "slug": _slug,
    "tags": _line(MAX_TAGS_LENGTH),
    "desc": _string(MAX_DESC_LENGTH),
    "timeout": _period,
    "grace": _period,
    "schedule": _schedule,
    "tz": _tz,
    "max_duration": _period,
    "stall_timeout": _period_or_off,
    "min_duration": _duration_or_off,
    "fail_threshold": _threshold,
    "recover_threshold": _threshold,
    "repeat_every": _period_or_off,
    "quiet": _quiet,
    "depends_on": dependencies.parse_depends_on,
    "manual_resume": _boolean,
    "methods": _methods,
    "start_kw": _string(MAX_KEYWORDS_LENGTH),
    "success_kw": _string(MAX_KEYWORDS_LENGTH),
    "failure_kw": _string(MAX_KEYWORDS_LENGTH),
    "filter_subject": _boolean,
    "filter_body": _boolean,
    "filter_http_body": _boolean,
    "filter_default_fail": _boolean,
    "channels": _string(None),
    "unique": _unique,
}


def slugify(name: str) -> str:
    """Django's slugify, as API v1/v2 derive the slug from the name."""
    import unicodedata

    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^\w\s-]", "", ascii_name.lower())
    return re.sub(r"[-\s]+", "-", cleaned).strip("-_")
