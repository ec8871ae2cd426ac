"""Issue 11's rules as pure functions: domain, quiet windows, the dependency graph, alert text.

The route-level boundary tests are in tests/test_run_health.py; these pin the cases a route
test reaches only slowly (a late sweep, a cycle already stored, a chain's reads).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta

from chalicelib import alerts, dependencies, domain, sns, sweep_rules
from chalicelib.domain import Check
from chalicelib.quiet import QuietWindow
from tests.test_domain import T0, apply, make_check, ping, up_check

S = timedelta(seconds=1)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
A = "aaaaaaaa-0000-4000-8000-000000000001"
B = "bbbbbbbb-0000-4000-8000-000000000002"


def delivered(check: Check) -> Check:
    """The check with its outbox delivered, as a sweep leaves it."""
    return replace(check, outbox={})


def test_a_run_fails_once_by_whichever_limit_comes_first() -> None:
    check = up_check(stall_timeout=600, max_duration=900, grace=3600, timeout=7200)
    started = apply(check, ping("start", A), T0 + MIN).check
    found = sweep_rules.find_overdue(started, T0 + HOUR)
    assert found is not None and (found.at, found.reason) == (T0 + 11 * MIN, "stalled")
    advanced = sweep_rules.advance(started, T0 + HOUR, lease_from=T0 + HOUR)
    assert [f.reason for f in advanced.flips] == ["stalled"] and advanced.check.runs == {}


def test_a_late_sweep_counts_each_missed_run_once_and_dates_the_threshold_one() -> None:
    check = up_check(timeout=3600, grace=600, fail_threshold=3)
    now = T0 + 10 * HOUR  # the sweeper was away: misses at 1:10, 2:10, 3:10 after T0
    advanced = sweep_rules.advance(check, now, lease_from=now)
    (flip,) = advanced.flips
    assert (flip.reason, flip.at, flip.failures) == ("timeout", T0 + 3 * HOUR + 10 * MIN, 3)
    assert advanced.check.status == "down"


def test_below_the_threshold_the_next_run_is_expected_after_the_missed_one() -> None:
    check = up_check(kind="cron", schedule="0 * * * *", grace=600, fail_threshold=2)
    now = T0 + HOUR + 10 * MIN
    advanced = sweep_rules.advance(check, now, lease_from=now)
    assert advanced.flips == () and advanced.check.failures == 1
    assert domain.schedule_deadline(advanced.check) == T0 + 2 * HOUR
    assert domain.display_status(advanced.check, now) == "up"


def test_a_late_sweep_sends_only_the_latest_reminder_and_skips_quiet_ones() -> None:
    down = apply(up_check(repeat_every=3600), ping("fail"), T0 + MIN).check
    down = delivered(down)
    late = T0 + MIN + 3 * HOUR + 5 * MIN
    check, reminder = sweep_rules.due_reminder(down, late, lease_from=late)
    assert reminder is not None and reminder.reminder == 3 and check.reminded == 3
    assert domain.next_reminder(delivered(check)) == T0 + MIN + 4 * HOUR
    quiet = replace(down, quiet=(QuietWindow("0 15 * * *", 3600, "UTC"),))
    check, reminder = sweep_rules.due_reminder(quiet, late, lease_from=late)  # 15:01 is quiet
    assert reminder is None and check.reminded == 3


def test_no_reminder_while_the_down_alert_is_still_in_the_outbox() -> None:
    down = apply(up_check(repeat_every=3600), ping("fail"), T0).check
    assert domain.next_reminder(down) is None
    assert domain.next_reminder(delivered(down)) == T0 + HOUR
    assert domain.alert_after(delivered(down)) == T0 + HOUR


def test_recovery_drops_a_held_down_alert_and_pending_reminders_and_is_silent() -> None:
    down = apply(up_check(), ping("fail"), T0).check
    assert down.outage is not None
    held = replace(down.outage, held=True, lease=T0 + HOUR)
    reminder = replace(down.outage, reminder=1)
    down = replace(down, outbox={held.key: held, reminder.key: reminder})
    up = apply(down, ping(), T0 + MIN)
    assert up.flip is not None and up.flip.silent and not up.flip.notifies
    assert set(up.check.outbox) == {up.flip.key} and up.check.outage is None


def test_progress_marks_every_run_without_a_rid_and_opens_one_when_none() -> None:
    check = apply(up_check(), ping("start", A), T0 + MIN).check
    check = apply(check, ping("start", B), T0 + 2 * MIN).check
    marked = apply(check, ping("progress"), T0 + 3 * MIN).check
    assert marked.progress == {A: T0 + 3 * MIN, B: T0 + 3 * MIN} and marked.runs == check.runs
    opened = apply(up_check(), ping("progress", A), T0 + MIN).check
    assert opened.runs == {A: T0 + MIN} and opened.progress == {A: T0 + MIN}
    assert domain.has_state_change(check, marked)  # so racing writes conflict


def test_an_upstream_is_failing_from_its_alert_time_and_not_when_paused() -> None:
    upstream = up_check(timeout=60, grace=60)
    assert not sweep_rules.is_failing_at(upstream, T0 + 2 * MIN - S)
    assert sweep_rules.is_failing_at(upstream, T0 + 2 * MIN)
    assert not sweep_rules.is_failing_at(replace(upstream, status="paused"), T0 + HOUR)
    down = apply(upstream, ping("fail"), T0 + 5 * MIN).check
    assert not sweep_rules.is_failing_at(down, T0 + 5 * MIN - S)  # it went down later
    assert sweep_rules.is_failing_at(down, T0 + 5 * MIN)


def test_holders_walk_the_chain_by_key_and_stop_on_a_stored_cycle() -> None:
    root = replace(make_check(uuid=A), status="down", depends_on=(B,))
    middle = replace(make_check(uuid=B), status="up", last_ping=T0, depends_on=(A,))
    leaf = make_check(uuid="cccccccc-0000-4000-8000-000000000003", depends_on=(B,))
    reads: list[list[str]] = []

    def load(uuids: Iterable[str]) -> dict[str, Check]:
        wanted = list(uuids)
        reads.append(wanted)
        return {c.uuid: c for c in (root, middle) if c.uuid in wanted}

    assert dependencies.holders(leaf, T0 + MIN, load) == (A,)
    assert reads == [[B], [A]]  # one read per level; the cycle back to B is not followed


def test_alert_texts_say_what_happened_in_words() -> None:
    check = up_check(name="etl", stall_timeout=600, repeat_every=7200)
    down = apply(check, ping("fail"), T0).check
    assert down.outage is not None
    stalled = replace(down.outage, reason="stalled")
    assert "stopped sending progress pings" in alerts.email_text(down, stalled, None)
    reminder = replace(down.outage, reminder=2)
    assert "still down after 4 h (reminder 2)" in alerts.email_text(down, reminder, None)
    assert sns.subject(down, reminder) == "REMINDER: etl"
    assert "down 4 h since" in sns.sms_text(down, reminder)
    doc = alerts.alert_document(down, reminder, None)
    assert (doc["event"], doc["reminder"], doc["down_for"]) == ("reminder", 2, 14400)
