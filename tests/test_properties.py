"""Property-based tests: schedule maths against an independent oracle, and bad input fuzzed
through every endpoint.

The oracle is neither croniter (the runtime's parser) nor cronsim (test_schedule.py's oracle):
it enumerates local wall-clock minutes that match the expression, field by field, and maps each
to real instants by Debian cron's rules: a wildcard job (minute or hour field starting with
``*``) runs at every instant whose local time matches; a fixed-time job runs at the first
occurrence of a repeated time, and at the moment the clock jumps when its time is skipped.
"""

from __future__ import annotations

import functools
import itertools
import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import domain, management, schedule, sweep_rules
from chalicelib.domain import Check
from tests.conftest import T0

ZONES = (
    "UTC",
    "Europe/Riga",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/St_Johns",
    "Australia/Lord_Howe",  # a half-hour clock change
    "Pacific/Auckland",
)
HORIZON_DAYS = 3_000  # dom AND dow (a "*/n" field) can be months or years apart
MINUTE = timedelta(minutes=1)
ONE_MICROSECOND = timedelta(microseconds=1)


# --- the oracle -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cron:
    minute: str
    hour: str
    dom: str
    month: str
    dow: str

    @property
    def expr(self) -> str:
        return " ".join((self.minute, self.hour, self.dom, self.month, self.dow))

    @property
    def wildcard(self) -> bool:
        return self.minute.startswith("*") or self.hour.startswith("*")

    def day_matches(self, day: date) -> bool:
        if day.month not in values(self.month, 1, 12):
            return False
        in_dom = day.day in values(self.dom, 1, 31)
        in_dow = day.isoweekday() % 7 in {d % 7 for d in values(self.dow, 0, 7)}
        # Vixie and Debian: either field starting with "*" means both must match; else either.
        if self.dom.startswith("*") or self.dow.startswith("*"):
            return in_dom and in_dow
        return in_dom or in_dow


def values(field: str, low: int, high: int) -> set[int]:
    found: set[int] = set()
    for term in field.split(","):
        body, _, step = term.partition("/")
        if body == "*":
            start, stop = low, high
        elif "-" in body:
            start, stop = (int(part) for part in body.split("-"))
        else:
            start = int(body)
            stop = high if step else start
        found.update(range(start, stop + 1, int(step or 1)))
    return found


def walls(cron: Cron, start: datetime) -> Iterator[datetime]:
    """Naive local minutes matching ``cron``, from ``start`` on, in order."""
    hours, minutes = sorted(values(cron.hour, 0, 23)), sorted(values(cron.minute, 0, 59))
    for offset in range(HORIZON_DAYS):
        day = start.date() + timedelta(days=offset)
        if cron.day_matches(day):
            for hour in hours:
                for minute in minutes:
                    wall = datetime.combine(day, time(hour, minute))
                    if wall >= start:
                        yield wall


def instants(wall: datetime, zone: ZoneInfo) -> list[datetime]:
    """Every real moment at which the local clock shows ``wall``."""
    found = []
    for fold in (0, 1):
        moment = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
        if moment.astimezone(zone).replace(tzinfo=None) == wall and moment not in found:
            found.append(moment)
    return sorted(found)


def jump_after(wall: datetime, zone: ZoneInfo) -> datetime:
    """The moment the clock jumps over the skipped ``wall``."""
    moment = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)  # before the jump
    after = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # after it
    while moment.astimezone(zone).utcoffset() == (moment - MINUTE).astimezone(zone).utcoffset():
        moment += MINUTE
        assert moment <= after
    return moment


def debian_next_fire(cron: Cron, tz: str, after: datetime) -> datetime:
    zone = ZoneInfo(tz)
    local = after.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    best: datetime | None = None
    # Start early and stop late by more than any clock change: walls and instants can be out
    # of order by that much around a fall back.
    for wall in walls(cron, local - timedelta(hours=3)):
        if best is not None and wall > best.astimezone(zone).replace(tzinfo=None) + timedelta(
            hours=3
        ):
            break
        found = instants(wall, zone)
        if not cron.wildcard:
            found = found[:1] or [jump_after(wall, zone)]
        for moment in found:
            if moment > after and (best is None or moment < best):
                best = moment
    assert best is not None, f"{cron.expr} does not fire within {HORIZON_DAYS} days"
    return best


# --- strategies -----------------------------------------------------------------------------


def field(
    low: int, high: int, star_weight: int = 2, often: tuple[int, ...] = ()
) -> st.SearchStrategy[str]:
    number = st.one_of(st.integers(low, high), *([st.sampled_from(often)] if often else []))
    return st.one_of(
        *[st.just("*")] * star_weight,
        st.integers(2, 6).map(lambda step: f"*/{step}"),
        number.map(str),
        st.tuples(number, number).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.lists(number, min_size=2, max_size=3, unique=True).map(
            lambda xs: ",".join(map(str, sorted(xs)))
        ),
    )


crons = st.builds(
    Cron,
    minute=field(0, 59, star_weight=0),
    hour=field(0, 23, often=(0, 1, 2, 3, 4)),  # where clocks change
    dom=st.one_of(st.just("*"), st.just("*"), field(1, 28)),
    month=st.one_of(st.just("*"), st.just("*"), st.just("*/2"), st.just("3-11")),
    dow=st.one_of(st.just("*"), st.just("*"), field(0, 7)),
)


@st.composite
def moments(draw: st.DrawFn, tz: str) -> datetime:
    """An instant in 2026; mostly within hours (or a day) of one of the zone's clock changes."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    changes = _changes(tz)
    near = draw(st.sampled_from([3 * 3600, 3 * 3600, 86_400, 0]))
    if changes and near:
        anchor = draw(st.sampled_from(changes))
        return anchor + timedelta(seconds=draw(st.integers(-near, near)))
    return start + timedelta(
        seconds=draw(st.integers(0, 365 * 86_400)), microseconds=draw(st.integers(0, 999_999))
    )


@functools.cache
def _changes(tz: str) -> list[datetime]:
    zone = ZoneInfo(tz)
    hours = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(365 * 24)]
    return [
        b
        for a, b in itertools.pairwise(hours)
        if a.astimezone(zone).utcoffset() != b.astimezone(zone).utcoffset()
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_next_fire_follows_debian_cron(data: st.DataObject) -> None:
    tz = data.draw(st.sampled_from(ZONES))
    cron = data.draw(crons)
    after = data.draw(moments(tz))
    assert schedule.next_fire(cron.expr, tz, after) == debian_next_fire(cron, tz, after)


# --- deadlines, overruns and statuses -------------------------------------------------------


@st.composite
def checks(draw: st.DrawFn) -> tuple[Check, datetime]:
    """An up check with its last ping and some open runs, and its down time by the rules."""
    tz = draw(st.sampled_from(ZONES))
    last_ping = draw(moments(tz))
    grace = draw(st.integers(60, 7 * 86_400))
    max_duration = draw(st.one_of(st.none(), st.integers(60, 86_400)))
    starts = draw(st.lists(st.integers(-86_400, 86_400), max_size=3))
    runs = {f"r{i}": last_ping + timedelta(seconds=s) for i, s in enumerate(starts)}
    if draw(st.booleans()):
        cron = draw(crons)
        check = Check("c", "p", last_ping, kind="cron", schedule=cron.expr, tz=tz, grace=grace)
        deadline = debian_next_fire(cron, tz, last_ping)
    else:
        timeout = draw(st.integers(60, 31_536_000))
        check = Check("c", "p", last_ping, kind="simple", timeout=timeout, grace=grace)
        deadline = last_ping + timedelta(seconds=timeout)
    limit = timedelta(seconds=max_duration or grace)  # max_duration defaults to grace
    down_at = min(
        [deadline + timedelta(seconds=grace)] + [start + limit for start in runs.values()]
    )
    check = Check(
        **{
            **vars(check),
            "status": "up",
            "last_ping": last_ping,
            "runs": runs,
            "max_duration": max_duration,
        }
    )
    return check, down_at


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(checks())
def test_a_check_goes_down_exactly_when_the_rules_say(case: tuple[Check, datetime]) -> None:
    check, down_at = case
    assert domain.alert_after(check) == down_at
    assert sweep_rules.find_overdue(check, down_at - ONE_MICROSECOND) is None
    overdue = sweep_rules.find_overdue(check, down_at)
    assert overdue is not None and overdue.at == down_at
    assert domain.display_status(check, down_at - ONE_MICROSECOND) in ("up", "grace")
    assert domain.display_status(check, down_at) == "down"


# --- bad input to every endpoint ------------------------------------------------------------

# OPTIONS only where a route declares it: for the others Chalice's local gateway answers the
# preflight itself (as API Gateway would), with a body its own test client cannot read.
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD")
FIELDS = (
    "name", "slug", "tags", "desc", "timeout", "grace", "schedule", "tz", "manual_resume",
    "methods", "channels", "unique", "max_duration", "filter_subject", "filter_body",
    "filter_http_body", "filter_default_fail", "start_kw", "success_kw", "failure_kw", "api_key",
)  # fmt: skip
CONTENT_TYPES = (
    None,
    "application/json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "image/png",
)
WRITE_OPERATIONS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["* * * * *", "0 0 30 2 *", "Europe/Riga", "Mars/Base", "", "POST", "name"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
bodies = st.one_of(
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values, max_size=6).map(
        lambda d: json.dumps(d).encode()
    ),
    json_values.map(lambda v: json.dumps(v).encode()),
)
junk_segments = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~%:@!$&'()*+,;=", min_size=1, max_size=40
)


@dataclass
class Fuzzed:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@st.composite
def requests(draw: st.DrawFn, routes: dict[str, list[str]], known: dict[str, list[str]]) -> Fuzzed:
    template = draw(st.sampled_from(sorted(routes)))
    parts = [_segment(draw, part, known) for part in template.split("/")]
    query = draw(st.lists(st.tuples(st.sampled_from(QUERY_NAMES), junk_segments), max_size=3))
    path = "/".join(parts) + ("?" + "&".join(f"{k}={v}" for k, v in query) if query else "")
    headers = {}
    key = draw(st.sampled_from(known["keys"][:1] * 4 + known["keys"] + [None]))
    if key is not None:
        headers["X-Api-Key"] = key
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        headers["Content-Type"] = content_type
    method = draw(st.sampled_from(routes[template] * 8 + list(METHODS)))
    return Fuzzed(method, path, headers, draw(bodies))


def _segment(draw: st.DrawFn, part: str, known: dict[str, list[str]]) -> str:
    """A path parameter: mostly a real value for its name, so requests get past routing into
    validation; else junk, raw or percent-encoded."""
    if not part.startswith("{"):
        return part
    real = st.sampled_from(known.get(part.strip("{}"), known["any"]))
    quoted = st.text(min_size=1, max_size=20).map(lambda t: quote(t, safe=""))
    return draw(st.one_of(*[real] * 8, st.sampled_from(known["any"]), junk_segments, quoted))


QUERY_NAMES = ("rid", "create", "tag", "slug", "start", "end", "seconds", "limit", "x")


class WriteRecorder:
    """Remembers every write that DynamoDB accepted, from the app's own client."""

    def __init__(self) -> None:
        self.accepted: list[str] = []

    def __call__(self, http_response: Any, model: Any, **_: Any) -> None:
        if model.name in WRITE_OPERATIONS and http_response.status_code < 300:
            self.accepted.append(model.name)


@pytest.fixture
def fuzz_target(
    client: Any, deps: Any, project: Any
) -> tuple[Any, dict[str, list[str]], WriteRecorder]:
    from chalicelib.spec import CheckSpec

    grant = management.authorize(deps, project.api_key, write=True)
    check = management.create_check(
        deps, grant, CheckSpec(name="fuzz", slug="fuzz"), T0, "http://x"
    )
    other = management.create_project(deps, "other")
    values = [check.uuid, "fuzz", project.ping_key, check.badge_key, "start", "0", "256", "v3"]
    known = {
        "version": ["v3", "v3", "v3", "v1", "v2", "v4"],
        "code": [check.uuid] * 4 + ["fuzz", project.ping_key, check.uuid.upper()],
        "suffix": ["start", "fail", "log", "0", "7", "256", "fuzz", "Fuzz", check.uuid],
        "last": ["start", "fail", "log", "0", "256", "x"],
        "number": ["1", "0", "-1", "99999999999"],
        "any": values,
        "keys": [project.api_key, project.api_key_readonly, other.api_key, "x" * 32, ""],
    }
    recorder = WriteRecorder()
    deps.store.client.meta.events.register("after-call.dynamodb", recorder)
    return client, known, recorder


def allowed_methods(
    client: Any, template: str, declared: Any, known: dict[str, list[str]]
) -> list[str]:
    """The methods a route really serves: the API routes accept every method and say in their
    preflight answer which they serve; the others declare theirs."""
    methods = sorted(set(declared) - {"OPTIONS"})
    if "OPTIONS" not in declared:
        return methods
    path = "/".join(
        known.get(p.strip("{}"), known["any"])[0] if p.startswith("{") else p
        for p in template.split("/")
    )
    reply = client.http.request("OPTIONS", path)
    served = reply.headers.get("Access-Control-Allow-Methods", "")
    return [m.strip() for m in served.split(",") if m.strip() and m.strip() != "OPTIONS"] or methods


@pytest.mark.slow
def test_bad_input_to_every_endpoint_gets_no_5xx_and_writes_nothing_when_refused(
    fuzz_target: tuple[Any, dict[str, Any], WriteRecorder],
) -> None:
    from app import app

    client, known, recorder = fuzz_target
    routes = {
        path: allowed_methods(client, path, entries, known) for path, entries in app.routes.items()
    }
    assert any(path.startswith("/api/") for path in routes) and any(
        path.startswith("/ping/") for path in routes
    )

    @settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(requests(routes, known))
    def run(request: Fuzzed) -> None:
        recorder.accepted.clear()
        reply = client.http.request(
            request.method, request.path, headers=request.headers, body=request.body
        )
        assert reply.status_code < 500, (request, reply.body[:300])
        if reply.status_code >= 400:
            assert recorder.accepted == [], (request, reply.status_code, recorder.accepted)

    run()


@st.composite
def check_bodies(draw: st.DrawFn) -> bytes:
    fields = draw(st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=5))
    return json.dumps(fields).encode()


def test_random_check_bodies_get_no_5xx_and_refusals_write_nothing(
    fuzz_target: tuple[Any, dict[str, Any], WriteRecorder],
) -> None:
    """The create and update endpoints, with a valid key: every field, every JSON type."""
    client, known, recorder = fuzz_target
    paths = ["/api/v3/checks/", f"/api/v3/checks/{known['code'][0]}"]

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(paths), check_bodies())
    def run(path: str, body: bytes) -> None:
        recorder.accepted.clear()
        headers = {"X-Api-Key": known["keys"][0], "Content-Type": "application/json"}
        reply = client.http.post(path, headers=headers, body=body)
        assert reply.status_code < 500, (path, body, reply.body[:300])
        if reply.status_code >= 400:
            assert recorder.accepted == [], (path, body, reply.status_code, recorder.accepted)

    run()
