"""Issue 11's rules at their boundaries: one second before, at, and one second after each
instant, through the HTTP routes and the real sweeper (its scheduled event) on moto.

Each test drives a controlled clock (time-machine, no ticking) and reads alerts back from the
SQS queue subscribed to the alert topic, so what is asserted is what a subscriber receives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import time_machine

from tests.conftest import T0, read_alerts

S = timedelta(seconds=1)
MIN = timedelta(minutes=1)
RID = "5a0d3d2e-0c5e-4b4e-9a0b-9d8f8e7c6b5a"
OFFSETS = [-1, 0, 1]  # seconds around each instant


@dataclass
class Stack:
    client: Any
    key: str
    clock: Any
    queue_url: str

    def at(self, moment: datetime) -> None:
        self.clock.move_to(moment)

    def create(self, **fields: Any) -> str:
        reply = self.client.http.post(
            "/api/v3/checks/",
            headers={"X-Api-Key": self.key, "Content-Type": "application/json"},
            body=json.dumps({"timeout": 3600, "grace": 600, **fields}),
        )
        assert reply.status_code == 201, reply.body
        return str(json.loads(reply.body)["uuid"])

    def post(self, path: str, fields: dict[str, Any]) -> Any:
        return self.client.http.post(
            f"/api/v3/checks/{path}",
            headers={"X-Api-Key": self.key, "Content-Type": "application/json"},
            body=json.dumps(fields),
        )

    def ping(self, check: str, suffix: str = "", rid: str | None = None) -> None:
        query = f"?rid={rid}" if rid else ""
        reply = self.client.http.get(f"/ping/{check}{'/' + suffix if suffix else ''}{query}")
        assert reply.status_code == 200, reply.body

    def sweep(self) -> None:
        event = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        self.client.lambda_.invoke("sweep", event)

    def get(self, check: str) -> dict[str, Any]:
        reply = self.client.http.get(f"/api/v3/checks/{check}", headers={"X-Api-Key": self.key})
        assert reply.status_code == 200, reply.body
        return dict(json.loads(reply.body))

    def alerts(self) -> list[dict[str, Any]]:
        return read_alerts(self.queue_url)


@pytest.fixture
def stack(client: Any, project: Any, aws: dict[str, str]) -> Iterator[Stack]:
    with time_machine.travel(T0, tick=False) as clock:
        yield Stack(client, project.api_key, clock, aws["queue_url"])


def events(alerts: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(a["document"]["event"], a["document"]["reason"]) for a in alerts]


# --- 1. progress heartbeats and stalls ---------------------------------------------------


@pytest.mark.parametrize("offset", OFFSETS)
def test_a_run_stalls_stall_timeout_after_its_last_progress_ping(stack: Stack, offset: int) -> None:
    check = stack.create(stall_timeout=600, max_duration=7200)
    stack.ping(check)
    stack.ping(check, "start", RID)
    stack.at(T0 + 5 * MIN)
    stack.ping(check, "progress", RID)
    stalled_at = T0 + 5 * MIN + 600 * S
    stack.at(stalled_at + offset * S)
    stack.sweep()
    alerts = stack.alerts()
    if offset < 0:
        assert alerts == []
        assert stack.get(check)["runs"][0]["last_progress"] == (T0 + 5 * MIN).isoformat()
        return
    (alert,) = alerts
    assert events(alerts) == [("down", "stalled")]
    assert alert["MessageAttributes"]["reason"]["Value"] == "stalled"
    # Dated at the last heartbeat + stall_timeout, no grace on top, whenever the sweep ran.
    assert alert["document"]["flip"]["at"] == stalled_at.isoformat()
    assert stack.get(check)["runs"] == []  # the stalled run is closed


def test_progress_without_a_start_opens_a_run_that_can_stall(stack: Stack) -> None:
    check = stack.create(stall_timeout=300)
    stack.ping(check)
    stack.at(T0 + MIN)
    stack.ping(check, "progress")  # the start ping was lost
    (run,) = stack.get(check)["runs"]
    assert run == {"rid": None, "started": (T0 + MIN).isoformat(), "last_progress": run["started"]}
    stack.at(T0 + MIN + 300 * S)
    stack.sweep()
    assert events(stack.alerts()) == [("down", "stalled")]


def test_progress_without_a_rid_keeps_every_open_run_alive(stack: Stack) -> None:
    other = "0b7e5a53-4b34-4c2e-8f6a-2f0ad3c1e9b1"
    check = stack.create(stall_timeout=300, max_duration=7200)
    stack.ping(check)
    stack.ping(check, "start", RID)
    stack.ping(check, "start", other)
    for minute in (4, 8, 12):
        stack.at(T0 + minute * MIN)
        stack.ping(check, "progress")
        stack.sweep()
    assert stack.alerts() == []
    assert {r["last_progress"] for r in stack.get(check)["runs"]} == {(T0 + 12 * MIN).isoformat()}


# --- 2. too fast -------------------------------------------------------------------------


@pytest.mark.parametrize("offset", OFFSETS)
def test_a_success_closing_a_run_shorter_than_min_duration_is_too_fast(
    stack: Stack, offset: int
) -> None:
    check = stack.create(min_duration=120)
    stack.ping(check)
    stack.at(T0 + MIN)
    stack.ping(check, "start", RID)
    stack.at(T0 + MIN + (120 + offset) * S)
    stack.ping(check, rid=RID)
    doc = stack.get(check)
    if offset < 0:
        assert events(stack.alerts()) == [("down", "too_fast")]
        assert (doc["status"], doc["failures"]) == ("down", 1)
    else:
        assert stack.alerts() == []
        assert (doc["status"], doc["failures"]) == ("up", 0)


def test_without_a_rid_the_latest_run_is_judged_and_no_run_no_judgement(stack: Stack) -> None:
    check = stack.create(min_duration=120)
    stack.ping(check)  # closes no run: not judged
    stack.ping(check, "start", RID)
    stack.at(T0 + 10 * MIN)
    stack.ping(check, "start")  # the latest run, rid-less
    stack.at(T0 + 11 * MIN)
    stack.ping(check)  # 60 s after the latest start, although RID's run is 11 min old
    assert events(stack.alerts()) == [("down", "too_fast")]


# --- 3. thresholds -----------------------------------------------------------------------


def test_fail_threshold_counts_failures_in_a_row_and_a_success_resets_them(stack: Stack) -> None:
    check = stack.create(fail_threshold=3)
    stack.ping(check)
    stack.ping(check, "fail")
    stack.ping(check, "fail")
    doc = stack.get(check)
    assert (doc["status"], doc["failures"]) == ("up", 2)
    stack.ping(check)
    assert stack.get(check)["failures"] == 0
    for _ in range(2):
        stack.ping(check, "1")
    assert stack.alerts() == []
    stack.ping(check, "fail")
    (alert,) = stack.alerts()
    assert (alert["document"]["reason"], alert["document"]["failures"]) == ("fail", 3)


@pytest.mark.parametrize("offset", OFFSETS)
def test_missed_runs_each_count_once_and_the_nth_goes_down(stack: Stack, offset: int) -> None:
    check = stack.create(timeout=3600, grace=600, fail_threshold=2)
    stack.ping(check)
    stack.at(T0 + 70 * MIN)  # first run missed: counted, the next run is expected an hour on
    stack.sweep()
    doc = stack.get(check)
    assert (doc["status"], doc["failures"], stack.alerts()) == ("up", 1, [])
    second = T0 + 130 * MIN
    stack.at(second + offset * S)
    stack.sweep()
    alerts = stack.alerts()
    if offset < 0:
        assert alerts == []
        return
    (alert,) = alerts
    assert alert["document"]["reason"] == "timeout" and alert["document"]["failures"] == 2
    assert alert["document"]["flip"]["at"] == second.isoformat()


def test_recover_threshold_needs_that_many_successes_in_a_row(stack: Stack) -> None:
    check = stack.create(recover_threshold=3)
    stack.ping(check)
    stack.ping(check, "fail")
    assert events(stack.alerts()) == [("down", "fail")]
    stack.ping(check)
    stack.ping(check)
    stack.ping(check, "fail")  # breaks the streak
    stack.ping(check)
    stack.ping(check)
    doc = stack.get(check)
    assert (doc["status"], stack.alerts()) == ("down", [])
    stack.ping(check)
    assert events(stack.alerts()) == [("up", None)]


@pytest.mark.parametrize("offset", OFFSETS)
def test_an_overrun_counts_once_and_closes_the_run(stack: Stack, offset: int) -> None:
    check = stack.create(max_duration=600, fail_threshold=2)
    stack.ping(check)
    stack.ping(check, "start", RID)
    stack.at(T0 + 600 * S + offset * S)
    stack.sweep()
    doc = stack.get(check)
    assert stack.alerts() == []
    assert (doc["failures"], len(doc["runs"])) == ((0, 1) if offset < 0 else (1, 0))


# --- 4. reminders ------------------------------------------------------------------------


@pytest.mark.parametrize("offset", OFFSETS)
def test_reminder_k_is_due_at_the_down_flip_plus_k_repeat_every(stack: Stack, offset: int) -> None:
    check = stack.create(repeat_every=3600)
    stack.ping(check)
    stack.at(T0 + 5 * MIN)
    stack.ping(check, "fail")
    (down,) = stack.alerts()
    stack.at(T0 + 5 * MIN + 3600 * S + offset * S)
    stack.sweep()
    stack.sweep()
    alerts = stack.alerts()
    if offset < 0:
        assert alerts == []
        return
    (reminder,) = alerts
    doc = reminder["document"]
    assert (doc["event"], doc["reminder"], doc["down_for"]) == ("reminder", 1, 3600)
    assert doc["flip"]["id"] == down["document"]["flip"]["id"]
    assert reminder["MessageAttributes"]["event"]["Value"] == "reminder"
    assert reminder["Subject"].startswith("REMINDER: ")


def test_reminders_stop_when_the_check_recovers_or_is_paused(stack: Stack) -> None:
    check = stack.create(repeat_every=3600)
    stack.ping(check)
    stack.ping(check, "fail")
    for hour in (1, 2):
        stack.at(T0 + hour * 3600 * S)
        stack.sweep()
    assert [a["document"].get("reminder") for a in stack.alerts()] == [None, 1, 2]
    stack.ping(check)
    stack.at(T0 + 3 * 3600 * S)
    stack.sweep()
    assert events(stack.alerts()) == [("up", None)]
    stack.ping(check, "fail")
    stack.alerts()
    assert stack.post(f"{check}/pause", {}).status_code == 200
    stack.at(T0 + 5 * 3600 * S)
    stack.sweep()
    assert stack.alerts() == []


# --- 5. quiet windows --------------------------------------------------------------------

# T0 is 2026-03-02 12:00 UTC: a window 13:00-14:00 UTC every day.
WINDOW = {"schedule": "0 13 * * *", "duration": 3600, "tz": "UTC"}
OPENS = T0 + 60 * MIN
CLOSES = OPENS + 3600 * S


@pytest.mark.parametrize("offset", OFFSETS)
def test_no_down_alert_from_the_opening_instant(stack: Stack, offset: int) -> None:
    check = stack.create(quiet=[WINDOW])
    stack.ping(check)
    stack.at(OPENS + offset * S)
    stack.ping(check, "fail")
    expected = [("down", "fail")] if offset < 0 else []
    assert events(stack.alerts()) == expected
    assert stack.get(check)["status"] == "down"  # status and flips as usual


@pytest.mark.parametrize("offset", OFFSETS)
def test_a_held_down_alert_goes_out_once_when_the_window_closes(stack: Stack, offset: int) -> None:
    check = stack.create(quiet=[WINDOW])
    stack.ping(check)
    stack.at(OPENS + 10 * MIN)
    stack.ping(check, "fail")
    stack.at(CLOSES + offset * S)
    stack.sweep()
    stack.sweep()
    alerts = stack.alerts()
    if offset < 0:
        assert alerts == []
        return
    (alert,) = alerts
    assert alert["document"]["event"] == "down"
    # The flip's original time, not the close.
    assert alert["document"]["flip"]["at"] == (OPENS + 10 * MIN).isoformat()


def test_an_outage_inside_a_window_sends_nothing(stack: Stack) -> None:
    check = stack.create(quiet=[WINDOW], repeat_every=600)
    stack.ping(check)
    stack.at(OPENS + MIN)
    stack.ping(check, "fail")
    stack.at(OPENS + 20 * MIN)
    stack.sweep()  # a reminder would be due; none while quiet
    stack.ping(check)
    stack.at(CLOSES + MIN)
    stack.sweep()
    assert stack.alerts() == []
    flips = stack.client.http.get(
        f"/api/v3/checks/{check}/flips/", headers={"X-Api-Key": stack.key}
    )
    assert [f["up"] for f in json.loads(flips.body)["flips"]][:2] == [1, 0]  # recorded


def test_reminders_inside_a_window_are_skipped_not_sent_later(stack: Stack) -> None:
    check = stack.create(quiet=[WINDOW], repeat_every=1800)
    stack.ping(check)
    stack.at(OPENS - 30 * MIN)
    stack.ping(check, "fail")  # before the window: the down alert goes out
    for minutes in (0, 30, 60, 90):  # reminders 1..4 at 13:00, 13:30, 14:00, 14:30
        stack.at(OPENS + minutes * MIN)
        stack.sweep()
    reminders = [a["document"].get("reminder") for a in stack.alerts()]
    assert reminders == [None, 3, 4]


# --- 6. dependencies ---------------------------------------------------------------------


@pytest.mark.parametrize("offset", OFFSETS)
def test_a_check_going_down_while_its_upstream_is_past_its_alert_time_is_held(
    stack: Stack, offset: int
) -> None:
    upstream = stack.create(timeout=60, grace=60)
    downstream = stack.create(timeout=60, grace=60, depends_on=[upstream])
    stack.ping(upstream)
    stack.at(T0 + offset * S)
    stack.ping(downstream)
    # The upstream is past its alert time at T0+120; the downstream's instant is T0+120+offset.
    stack.at(T0 + 120 * S + offset * S)
    stack.sweep()
    doc = stack.get(downstream)
    down = [a["document"]["check"]["uuid"] for a in stack.alerts()]
    assert doc["status"] == "down"
    if offset < 0:
        assert down == [downstream] and doc["held_by"] == []
    else:
        assert down == [upstream] and doc["held_by"] == [upstream]


def test_a_held_alert_is_released_when_the_upstream_recovers(stack: Stack) -> None:
    upstream = stack.create(timeout=60, grace=60)
    downstream = stack.create(timeout=60, grace=60, depends_on=[upstream])
    stack.ping(upstream)
    stack.ping(downstream)
    stack.at(T0 + 3 * MIN)
    stack.sweep()
    assert [a["document"]["check"]["uuid"] for a in stack.alerts()] == [upstream]
    stack.ping(upstream)
    stack.at(T0 + 4 * MIN)
    stack.sweep()
    stack.sweep()
    alerts = stack.alerts()
    assert [(a["document"]["event"], a["document"]["check"]["uuid"]) for a in alerts] == [
        ("up", upstream),
        ("down", downstream),
    ]
    released = alerts[1]["document"]
    assert released["held_by"] == [upstream]
    assert released["flip"]["at"] == (T0 + 2 * MIN).isoformat()
    assert stack.get(downstream)["held_by"] == []


def test_a_held_outage_that_recovers_sends_nothing(stack: Stack) -> None:
    upstream = stack.create(timeout=60, grace=60)
    downstream = stack.create(timeout=60, grace=60, depends_on=[upstream])
    stack.ping(upstream)
    stack.ping(downstream)
    stack.at(T0 + 3 * MIN)
    stack.sweep()
    stack.alerts()
    stack.ping(downstream)
    stack.ping(upstream)
    stack.at(T0 + 4 * MIN)
    stack.sweep()
    assert events(stack.alerts()) == [("up", None)]  # the upstream's only


@pytest.mark.parametrize("how", ["pause", "delete"])
def test_pausing_or_deleting_the_upstream_releases_what_it_holds(stack: Stack, how: str) -> None:
    root = stack.create(timeout=60, grace=60)
    middle = stack.create(timeout=3600, depends_on=[root])
    leaf = stack.create(timeout=60, grace=60, depends_on=[middle])
    stack.ping(root)
    stack.ping(leaf)
    stack.at(T0 + 3 * MIN)
    stack.sweep()  # the leaf is held by the root, two levels up
    assert stack.get(leaf)["held_by"] == [root]
    stack.alerts()
    if how == "pause":
        assert stack.post(f"{root}/pause", {}).status_code == 200
    else:
        reply = stack.client.http.delete(f"/api/v3/checks/{root}", headers={"X-Api-Key": stack.key})
        assert reply.status_code == 200
    stack.at(T0 + 4 * MIN)
    stack.sweep()
    (alert,) = stack.alerts()
    assert (alert["document"]["check"]["uuid"], alert["document"]["held_by"]) == (leaf, [root])


# --- validation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"stall_timeout": 59}, "json validation error: stall_timeout is too small"),
        ({"stall_timeout": 31_536_001}, "json validation error: stall_timeout is too large"),
        ({"stall_timeout": "60"}, "json validation error: stall_timeout is not a number"),
        ({"min_duration": -1}, "json validation error: min_duration is too small"),
        ({"fail_threshold": 0}, "json validation error: fail_threshold is too small"),
        ({"fail_threshold": 101}, "json validation error: fail_threshold is too large"),
        ({"recover_threshold": True}, "json validation error: recover_threshold is not a number"),
        ({"repeat_every": 30}, "json validation error: repeat_every is too small"),
        ({"quiet": {}}, "json validation error: quiet is not an array"),
        ({"quiet": [WINDOW] * 11}, "json validation error: quiet is too long"),
        (
            {"quiet": [{**WINDOW, "duration": 59}]},
            "json validation error: an item in 'quiet': duration is too small",
        ),
        (
            {"quiet": [{**WINDOW, "duration": 604_801}]},
            "json validation error: an item in 'quiet': duration is too large",
        ),
        (
            {"quiet": [{**WINDOW, "schedule": "0 13 * *"}]},
            "json validation error: an item in 'quiet': schedule is not a valid cron expression",
        ),
        (
            {"quiet": [{**WINDOW, "tz": "Mars/Olympus"}]},
            "json validation error: an item in 'quiet': tz is not a valid timezone",
        ),
        ({"depends_on": "x"}, "json validation error: depends_on is not an array"),
        (
            {"depends_on": ["nope"]},
            "json validation error: an item in 'depends_on' is not a valid uuid",
        ),
        (
            {"depends_on": [RID]},
            f"invalid dependency: {RID} is not a check of this project",
        ),
    ],
)
def test_bad_values_get_400_with_healthchecks_style_texts(
    stack: Stack, fields: dict[str, Any], error: str
) -> None:
    reply = stack.post("", {"name": "x", **fields})
    assert reply.status_code == 400
    assert json.loads(reply.body) == {"error": error}


def test_zero_turns_rules_off_and_the_fields_read_back(stack: Stack) -> None:
    check = stack.create(stall_timeout=0, min_duration=0, repeat_every=0, quiet=[WINDOW])
    doc = stack.get(check)
    assert (doc["stall_timeout"], doc["min_duration"], doc["repeat_every"]) == (0, 0, 0)
    assert (doc["fail_threshold"], doc["recover_threshold"], doc["failures"]) == (1, 1, 0)
    assert doc["quiet"] == [WINDOW] and doc["depends_on"] == [] and doc["held_by"] == []


def test_self_cycles_and_other_projects_dependencies_get_400(stack: Stack, deps: Any) -> None:
    from chalicelib.management import create_project

    a = stack.create()
    b = stack.create(depends_on=[a])
    c = stack.create(depends_on=[b])
    assert json.loads(stack.post(a, {"depends_on": [a]}).body) == {
        "error": "invalid dependency: a check cannot depend on itself"
    }
    reply = stack.post(a, {"depends_on": [c]})  # a -> c -> b -> a
    assert reply.status_code == 400
    assert json.loads(reply.body) == {
        "error": f"invalid dependency: {a} would depend on itself (a cycle)"
    }
    other = create_project(deps, "other")
    foreign = stack.client.http.post(
        "/api/v3/checks/",
        headers={"X-Api-Key": other.api_key, "Content-Type": "application/json"},
        body=json.dumps({"name": "theirs"}),
    )
    theirs = json.loads(foreign.body)["uuid"]
    reply = stack.post(a, {"depends_on": [theirs]})
    assert reply.status_code == 400
    assert json.loads(reply.body) == {
        "error": f"invalid dependency: {theirs} is not a check of this project"
    }
    assert stack.get(a)["depends_on"] == []  # nothing half-written


# --- races: two dependency edits at once --------------------------------------------------
# Each test stages the interleaving with a hook on the store: the edit under test has read
# the graph (``get_checks`` returned) or is about to write (``write_config`` called), and
# there another edit (``racing``, the management use case itself) runs from start to finish.
MOMENTS = {"after the graph is read": "get_checks", "before the write": "write_config"}


def _race(deps: Any, monkeypatch: pytest.MonkeyPatch, moment: str, racing: Any) -> None:
    """Run ``racing()`` once, at ``moment`` of the next edit."""
    method = MOMENTS[moment]
    original = getattr(deps.store, method)
    fired = [False]

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if fired[0]:
            return original(*args, **kwargs)
        fired[0] = True
        if method == "write_config":
            racing()
            return original(*args, **kwargs)
        result = original(*args, **kwargs)
        racing()
        return result

    monkeypatch.setattr(deps.store, method, hooked)


def _edit(deps: Any, stack: Stack, check: str, **fields: Any) -> None:
    from chalicelib import management
    from chalicelib.spec import CheckSpec

    grant = management.authorize(deps, stack.key, write=True)
    management.update_check(deps, grant, check, CheckSpec(**fields), 3)


@pytest.mark.parametrize("moment", MOMENTS)
@pytest.mark.parametrize("chain", ["direct", "transitive"])
def test_two_racing_edits_cannot_store_a_dependency_cycle(
    stack: Stack, deps: Any, monkeypatch: pytest.MonkeyPatch, chain: str, moment: str
) -> None:
    a, b, c = stack.create(), stack.create(), stack.create()
    if chain == "direct":  # a -> b races b -> a
        racing = (b, (a,))
    else:  # a -> b races b -> c, while c -> a is already stored
        assert stack.post(c, {"depends_on": [a]}).status_code == 200
        racing = (b, (c,))
    edited, upstreams = racing
    _race(deps, monkeypatch, moment, lambda: _edit(deps, stack, edited, depends_on=upstreams))
    raced = stack.post(a, {"depends_on": [b]})
    assert raced.status_code == 400
    error = {"error": f"invalid dependency: {a} would depend on itself (a cycle)"}
    assert json.loads(raced.body) == error
    assert stack.get(edited)["depends_on"] == list(upstreams)  # the first edit stands
    assert stack.get(a)["depends_on"] == []  # the second left nothing behind
    sequential = stack.post(a, {"depends_on": [b]})  # the same edit, now with no race
    assert (sequential.status_code, sequential.body) == (400, raced.body)


@pytest.mark.parametrize("racing", ["another check on b", "b renamed", "a renamed"])
def test_a_racing_edit_that_makes_no_cycle_lets_the_dependency_edit_through(
    stack: Stack, deps: Any, monkeypatch: pytest.MonkeyPatch, racing: str
) -> None:
    a, b, c = stack.create(), stack.create(), stack.create()
    edits = {
        "another check on b": lambda: _edit(deps, stack, c, depends_on=(b,)),
        "b renamed": lambda: _edit(deps, stack, b, name="renamed"),
        "a renamed": lambda: _edit(deps, stack, a, name="renamed"),
    }
    _race(deps, monkeypatch, "before the write", edits[racing])
    reply = stack.post(a, {"depends_on": [b]})
    assert reply.status_code == 200, reply.body
    assert stack.get(a)["depends_on"] == [b]
    if racing == "another check on b":
        assert stack.get(c)["depends_on"] == [b]
    else:
        assert stack.get(a if racing == "a renamed" else b)["name"] == "renamed"


def _dynamodb_calls(deps: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every DynamoDB request the app's store sends from now on: (operation, parameters)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        calls.append((model.name, params))

    deps.store.client.meta.events.register("before-parameter-build.dynamodb.*", record)
    return calls


def _shape(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Operation names; a transaction with its item count."""
    return [
        f"{name}[{len(params['TransactItems'])}]" if name == "TransactWriteItems" else name
        for name, params in calls
    ]


def test_only_an_edit_that_changes_depends_on_pays_for_the_graph_version(
    stack: Stack, deps: Any
) -> None:
    """The request counts docs/performance.md gives for edits ("Dependency edits")."""
    a, b, c1 = stack.create(), stack.create(), stack.create()
    c2 = stack.create(depends_on=[c1])
    c3 = stack.create(depends_on=[c2])
    calls = _dynamodb_calls(deps)
    _edit(deps, stack, a, name="renamed")
    _edit(deps, stack, b, depends_on=())  # given, and unchanged
    # Each: the key, the check, one write of the check alone.
    assert _shape(calls) == ["GetItem", "GetItem", "TransactWriteItems[1]"] * 2
    calls.clear()
    _edit(deps, stack, c2, depends_on=(c1,))  # given, unchanged, still validated
    assert _shape(calls) == ["GetItem", "GetItem", "BatchGetItem", "TransactWriteItems[1]"]
    calls.clear()
    _edit(deps, stack, a, depends_on=(b,))
    # The key, the check, the graph version, the upstreams (one level), then the check and
    # the version in one transaction.
    version_read = ["GetItem", "GetItem", "GetItem"]
    assert _shape(calls) == [*version_read, "BatchGetItem", "TransactWriteItems[2]"]
    calls.clear()
    _edit(deps, stack, b, depends_on=(c3,))  # one read per level: c3, c2, c1
    assert _shape(calls) == [*version_read, *["BatchGetItem"] * 3, "TransactWriteItems[2]"]


@pytest.mark.parametrize("code", ["ConditionalCheckFailed", "TransactionConflict"])
def test_losing_the_graph_version_to_another_edit_is_a_lost_race(deps: Any, code: str) -> None:
    """DynamoDB cancels a transaction that meets another one in flight on the same item
    (``TransactionConflict``), which moto never does: the botocore Stubber stands in for it."""
    from botocore.stub import Stubber

    from chalicelib.domain import Check
    from chalicelib.store import StaleGraph

    check = Check(uuid=RID, project="p", created=T0)
    with Stubber(deps.store.client) as dynamodb:
        dynamodb.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            modeled_fields={"CancellationReasons": [{"Code": "None"}, {"Code": code}]},
        )
        with pytest.raises(StaleGraph) as lost:
            deps.store.write_config(check, check, graph_version=3)
    assert lost.value.current == check  # retried from the same copy, after a fresh read


# --- races: two sweepers that read the due index before either writes ---------------------


def _stale_twice(deps: Any, check_uuid: str, now: datetime) -> None:
    from chalicelib import sweeps

    snapshot = deps.store.get_check(check_uuid)
    for _ in range(2):  # the second works from the same read, as a racing sweeper would
        sweeps._sweep_check(deps, snapshot, now, sweeps.SweepReport())


def test_racing_sweepers_send_a_reminder_once(stack: Stack, deps: Any) -> None:
    check = stack.create(repeat_every=3600)
    stack.ping(check)
    stack.ping(check, "fail")
    stack.alerts()
    _stale_twice(deps, check, T0 + 3600 * S)
    assert [a["document"].get("reminder") for a in stack.alerts()] == [1]


def test_racing_sweepers_release_a_held_alert_once(stack: Stack, deps: Any) -> None:
    upstream = stack.create(timeout=60, grace=60)
    downstream = stack.create(timeout=60, grace=60, depends_on=[upstream])
    stack.ping(upstream)
    stack.ping(downstream)
    stack.at(T0 + 3 * MIN)
    stack.sweep()
    stack.ping(upstream)
    stack.alerts()
    _stale_twice(deps, downstream, T0 + 4 * MIN)
    assert [a["document"]["check"]["uuid"] for a in stack.alerts()] == [downstream]


def test_a_filter_policy_keeps_reminders_away_from_a_subscriber(
    stack: Stack, aws: dict[str, str]
) -> None:
    import boto3

    sqs = boto3.client("sqs")
    pager = sqs.create_queue(QueueName="pager")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=pager, AttributeNames=["QueueArn"])
    boto3.client("sns").subscribe(
        TopicArn=aws["topic_arn"],
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
        Attributes={"FilterPolicy": json.dumps({"event": ["down", "up"]})},
    )
    check = stack.create(repeat_every=3600)
    stack.ping(check)
    stack.ping(check, "fail")
    stack.at(T0 + 3600 * S)
    stack.sweep()
    stack.ping(check)
    assert [a["document"]["event"] for a in stack.alerts()] == ["down", "reminder", "up"]
    assert [a["document"]["event"] for a in read_alerts(pager)] == ["down", "up"]


# --- quiet windows across DST, through the routes ----------------------------------------


@pytest.mark.parametrize(
    ("window", "opens"),
    [
        # New York springs forward at 02:00 on 2026-03-08: 02:30 never shows, the window
        # opens at the transition, 03:00 EDT = 07:00Z.
        ({"schedule": "30 2 * * *", "duration": 3600, "tz": "America/New_York"}, (3, 8, 7, 0)),
        # Riga falls back at 04:00 on 2026-10-25: 03:30 shows twice, the window opens at the
        # first (00:30Z) only.
        ({"schedule": "30 3 * * *", "duration": 1800, "tz": "Europe/Riga"}, (10, 25, 0, 30)),
    ],
)
@pytest.mark.parametrize("offset", OFFSETS)
def test_a_quiet_window_across_dst_opens_at_the_debian_cron_instant(
    stack: Stack, window: dict[str, Any], opens: tuple[int, int, int, int], offset: int
) -> None:
    month, day, hour, minute = opens
    instant = T0.replace(month=month, day=day, hour=hour, minute=minute)
    stack.at(instant - HOUR_S)
    check = stack.create(quiet=[window])
    stack.ping(check)
    stack.at(instant + offset * S)
    stack.ping(check, "fail")
    assert events(stack.alerts()) == ([("down", "fail")] if offset < 0 else [])
    stack.at(instant + window["duration"] * S)
    stack.sweep()
    assert events(stack.alerts()) == ([] if offset < 0 else [("down", "fail")])


def test_the_repeated_autumn_hour_does_not_open_a_window_twice(stack: Stack) -> None:
    second_pass = T0.replace(month=10, day=25, hour=1, minute=30)  # 03:30 Riga, again
    stack.at(second_pass - HOUR_S)
    check = stack.create(quiet=[{"schedule": "30 3 * * *", "duration": 1800, "tz": "Europe/Riga"}])
    stack.ping(check)
    stack.at(second_pass + 5 * MIN)
    stack.ping(check, "fail")
    assert events(stack.alerts()) == [("down", "fail")]


HOUR_S = 3600 * S


# --- races: a success ping landing while a held down alert is judged ---------------------
#
# A held down alert is judged by a sweep (or by the writer of its flip) while pings keep
# arriving. The up flip that ends the outage is silent exactly when the down alert is still
# held at that moment, so whatever the order, subscribers must get both DOWN and UP, or
# neither. Each test lands the ping at one step of the judgement, by running it from inside
# the store or alerter call that marks that step: no threads, no timing.


def _at_call(
    monkeypatch: pytest.MonkeyPatch,
    owner: Any,
    name: str,
    step: Callable[[], None],
    *,
    after: bool = False,
) -> None:
    """Run ``step`` once, just before (or just after) the next call of ``owner.name``."""
    original = getattr(owner, name)

    def staged(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(owner, name, original)
        if not after:
            step()
        result = original(*args, **kwargs)
        if after:
            step()
        return result

    monkeypatch.setattr(owner, name, staged)


def _sent(stack: Stack, check: str) -> list[tuple[str, str]]:
    """The events subscribers got about ``check``, each with the id of the flip it is about."""
    docs = [a["document"] for a in stack.alerts() if a["document"]["check"]["uuid"] == check]
    return sorted((doc["event"], doc["flip"]["id"]) for doc in docs)


def _held_downstream(stack: Stack) -> str:
    """A check gone down at T0+2min while its upstream was down: held; the upstream is back."""
    upstream = stack.create(timeout=60, grace=60)
    downstream = stack.create(timeout=60, grace=60, depends_on=[upstream])
    stack.ping(upstream)
    stack.ping(downstream)
    stack.at(T0 + 3 * MIN)
    stack.sweep()
    assert stack.get(downstream)["held_by"] == [upstream]
    stack.ping(upstream)
    stack.alerts()
    return downstream


def _events_of(sent: list[tuple[str, str]]) -> list[str]:
    return [event for event, _ in sent]


def _assert_up_with_nothing_owed(deps: Any, check: str) -> None:
    stored = deps.store.get_check(check)
    assert (stored.status, dict(stored.outbox)) == ("up", {})


def _settle(stack: Stack, start: datetime) -> None:
    """Sweeps at ``start`` and half a minute on, before any check here is due by itself:
    every lease a race can leave in an outbox (a claim, a hold's recheck) has run out by
    ``start``, so what the race left is settled."""
    for moment in (start, start + 30 * S):
        stack.at(moment)
        stack.sweep()


@pytest.mark.parametrize(
    ("owner", "name", "after", "both"),
    [
        # The sweep has claimed the held flip, and not judged it yet: the ping wins, silently.
        ("store", "claim_delivery", True, False),
        # The sweep has released the flip and is about to publish it: the ping's up is said.
        ("alerter", "publish", False, True),
        # The down went out and is not yet cleared from the outbox: the ping's up is said.
        ("store", "remove_from_outbox", False, True),
    ],
)
def test_a_success_ping_racing_the_release_of_a_held_alert_sends_down_and_up_or_neither(
    stack: Stack,
    deps: Any,
    monkeypatch: pytest.MonkeyPatch,
    owner: str,
    name: str,
    after: bool,
    both: bool,
) -> None:
    from chalicelib import sweeps

    downstream = _held_downstream(stack)
    stack.at(T0 + 4 * MIN)
    _at_call(monkeypatch, getattr(deps, owner), name, lambda: stack.ping(downstream), after=after)
    sweeps.sweep(deps, T0 + 4 * MIN)
    _settle(stack, T0 + 5 * MIN)
    assert _events_of(_sent(stack, downstream)) == (["down", "up"] if both else [])
    assert stack.get(downstream)["held_by"] == []
    _assert_up_with_nothing_owed(deps, downstream)


def test_a_success_ping_before_the_sweep_claims_a_held_alert_sends_nothing(
    stack: Stack, deps: Any
) -> None:
    from chalicelib import sweeps

    downstream = _held_downstream(stack)
    snapshot = deps.store.get_check(downstream)  # the sweep's read of the due index
    stack.at(T0 + 4 * MIN)
    stack.ping(downstream)
    sweeps._sweep_check(deps, snapshot, T0 + 4 * MIN, sweeps.SweepReport())
    _settle(stack, T0 + 5 * MIN)
    assert _sent(stack, downstream) == []


def test_a_success_ping_right_after_a_sweep_takes_a_held_check_down_sends_nothing(
    stack: Stack, deps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep has written the down flip, held by the upstream, and not delivered it yet."""
    from chalicelib import sweeps

    upstream = stack.create(timeout=60, grace=60)
    downstream = stack.create(timeout=60, grace=60, depends_on=[upstream])
    stack.ping(upstream)
    stack.ping(downstream)
    stack.at(T0 + 3 * MIN)
    snapshot = deps.store.get_check(downstream)  # the upstream is past its alert time, unswept
    _at_call(monkeypatch, deps.store, "write_state", lambda: stack.ping(downstream), after=True)
    sweeps._sweep_check(deps, snapshot, T0 + 3 * MIN, sweeps.SweepReport())
    _settle(stack, T0 + 4 * MIN)
    assert _sent(stack, downstream) == []
    _assert_up_with_nothing_owed(deps, downstream)


def test_a_success_ping_right_after_a_fail_ping_in_a_window_sends_nothing(
    stack: Stack, deps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fail ping has taken the check down in a quiet window and not delivered it yet."""
    check = stack.create(quiet=[WINDOW])
    stack.ping(check)
    stack.at(OPENS + 10 * MIN)
    _at_call(monkeypatch, deps.store, "write_ping", lambda: stack.ping(check), after=True)
    stack.ping(check, "fail")
    _settle(stack, CLOSES)
    assert _sent(stack, check) == []  # an outage inside the window sends nothing
    _assert_up_with_nothing_owed(deps, check)


def test_a_success_ping_racing_the_hold_of_a_retried_alert_sends_down_and_up(
    stack: Stack, deps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A down alert whose publish failed is retried once a window has opened: the sweep has
    claimed it and is judging its hold when the check recovers."""
    from chalicelib import quiet, sweeps

    check = stack.create(quiet=[WINDOW])
    stack.ping(check)
    stack.at(OPENS - 30 * S)

    def failing(alert: Any) -> str:
        raise RuntimeError("SNS is unreachable")

    publish = deps.alerter.publish
    monkeypatch.setattr(deps.alerter, "publish", failing)
    stack.ping(check, "fail")  # before the window: not held, but not sent either
    monkeypatch.setattr(deps.alerter, "publish", publish)
    stack.at(OPENS + MIN)
    _at_call(monkeypatch, quiet, "open_until", lambda: stack.ping(check))
    sweeps.sweep(deps, OPENS + MIN)
    _settle(stack, CLOSES)
    assert _events_of(_sent(stack, check)) == ["down", "up"]
    _assert_up_with_nothing_owed(deps, check)
