"""Pure domain rules at exact boundaries: deadline - 1 s, the deadline, deadline + grace."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import domain, sweep_rules
from chalicelib.domain import Check, Ping

T0 = datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
S = timedelta(seconds=1)
UUID = "9f1c3b5e-2d4a-4c6b-8e0f-1a2b3c4d5e6f"


def make_check(**overrides: object) -> Check:
    fields: dict[str, object] = {
        "uuid": UUID,
        "project": "p",
        "created": T0,
        "timeout": 3600,
        "grace": 600,
    }
    fields.update(overrides)
    return Check(**fields)  # type: ignore[arg-type]


def ping(action: domain.Action = "success", rid: str | None = None) -> Ping:
    return Ping(action=action, rid=rid)


def apply(check: Check, p: Ping, now: datetime) -> domain.PingResult:
    return domain.apply_ping(check, p, now, lease_from=now)


def up_check(**overrides: object) -> Check:
    """An up check pinged at T0 whose new→up flip has been delivered."""
    return replace(apply(make_check(**overrides), ping(), T0).check, outbox={}, sv=1)


class TestSimpleDeadlines:
    def test_up_one_second_before_the_deadline(self) -> None:
        check = up_check()
        assert domain.display_status(check, T0 + timedelta(hours=1) - S) == "up"
        assert sweep_rules.find_overdue(check, T0 + timedelta(hours=1) - S) is None

    def test_in_grace_at_the_deadline(self) -> None:
        check = up_check()
        assert domain.display_status(check, T0 + timedelta(hours=1)) == "grace"
        assert sweep_rules.find_overdue(check, T0 + timedelta(hours=1)) is None

    def test_still_in_grace_one_second_before_deadline_plus_grace(self) -> None:
        check = up_check()
        at = T0 + timedelta(hours=1, minutes=10) - S
        assert domain.display_status(check, at) == "grace"
        assert sweep_rules.find_overdue(check, at) is None

    def test_down_at_deadline_plus_grace(self) -> None:
        check = up_check()
        at = T0 + timedelta(hours=1, minutes=10)
        assert domain.display_status(check, at) == "down"
        overdue = sweep_rules.find_overdue(check, at)
        assert overdue is not None
        assert (overdue.at, overdue.reason) == (at, "timeout")

    def test_alert_after_is_deadline_plus_grace(self) -> None:
        assert domain.alert_after(up_check()) == T0 + timedelta(hours=1, minutes=10)


class TestCronDeadlines:
    def test_cron_deadline_is_next_fire_after_last_ping_plus_grace(self) -> None:
        check = up_check(kind="cron", schedule="0 3 * * *", tz="UTC", grace=300)
        assert domain.schedule_deadline(check) == datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
        assert domain.alert_after(check) == datetime(2026, 3, 3, 3, 5, tzinfo=UTC)

    def test_cron_boundaries(self) -> None:
        check = up_check(kind="cron", schedule="0 3 * * *", tz="UTC", grace=300)
        deadline = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
        assert domain.display_status(check, deadline - S) == "up"
        assert domain.display_status(check, deadline) == "grace"
        assert sweep_rules.find_overdue(check, deadline + timedelta(seconds=300) - S) is None
        assert sweep_rules.find_overdue(check, deadline + timedelta(seconds=300)) is not None

    def test_cron_in_time_zone_converts_before_adding_grace(self) -> None:
        check = up_check(kind="cron", schedule="0 3 * * *", tz="America/New_York", grace=60)
        # 03:00 EST on 2026-03-03 is 08:00 UTC.
        assert domain.schedule_deadline(check) == datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


class TestNewAndPaused:
    @pytest.mark.parametrize("status", ["new", "paused"])
    def test_never_go_down_from_silence(self, status: domain.Status) -> None:
        check = make_check(status=status)
        assert domain.alert_after(check) is None
        assert sweep_rules.find_overdue(check, T0 + timedelta(days=400)) is None

    def test_first_success_flips_new_to_up_without_notifying(self) -> None:
        result = apply(make_check(), ping(), T0)
        assert result.check.status == "up"
        assert result.flip is not None
        assert (result.flip.old, result.flip.new, result.flip.notifies) == ("new", "up", False)

    def test_success_on_paused_goes_up_quietly(self) -> None:
        result = apply(make_check(status="paused"), ping(), T0)
        assert result.flip is not None and not result.flip.notifies

    def test_manual_resume_ignores_pings_while_paused(self) -> None:
        check = make_check(status="paused", manual_resume=True)
        result = apply(check, ping(), T0)
        assert (result.kind, result.check, result.flip) == ("ign", check, None)

    def test_start_on_paused_check_still_times_the_run(self) -> None:
        result = apply(make_check(status="paused"), ping("start"), T0)
        assert domain.alert_after(result.check) == T0 + timedelta(seconds=600)


class TestFailAndRecovery:
    def test_fail_ping_flips_down_with_reason_fail(self) -> None:
        result = apply(up_check(), ping("fail"), T0 + timedelta(minutes=5))
        assert result.check.status == "down"
        assert result.flip is not None
        assert (result.flip.reason, result.flip.notifies) == ("fail", True)

    def test_repeated_failure_while_down_is_not_a_new_flip(self) -> None:
        down = apply(up_check(), ping("fail"), T0).check
        assert apply(down, ping("fail"), T0 + S).flip is None

    def test_success_after_down_notifies_up(self) -> None:
        down = apply(up_check(), ping("fail"), T0).check
        result = apply(down, ping(), T0 + S)
        assert result.flip is not None
        assert (result.flip.old, result.flip.new, result.flip.notifies) == ("down", "up", True)

    def test_down_check_has_no_silence_deadline(self) -> None:
        down = apply(up_check(), ping("fail"), T0).check
        flip = next(iter(down.outbox.values()))
        # Only the undelivered flip's lease keeps it in the due index.
        assert domain.alert_after(down) == flip.lease

    def test_log_changes_nothing(self) -> None:
        check = up_check()
        result = apply(check, ping("log"), T0 + timedelta(minutes=1))
        assert result.check == check and result.flip is None


class TestRuns:
    def test_start_then_success_measures_duration(self) -> None:
        started = apply(up_check(), ping("start"), T0 + timedelta(minutes=1)).check
        result = apply(started, ping(), T0 + timedelta(minutes=3))
        assert result.duration == 120.0
        assert result.check.runs == {}

    def test_overrun_at_start_plus_max_duration(self) -> None:
        check = up_check(max_duration=900)
        started = apply(check, ping("start"), T0).check
        limit = T0 + timedelta(seconds=900)
        assert sweep_rules.find_overdue(started, limit - S) is None
        overdue = sweep_rules.find_overdue(started, limit)
        assert overdue is not None and (overdue.at, overdue.reason) == (limit, "overrun")

    def test_max_duration_defaults_to_grace(self) -> None:
        started = apply(up_check(), ping("start"), T0).check
        assert domain.alert_after(started) == T0 + timedelta(seconds=600)

    def test_concurrent_rids_each_have_their_own_deadline(self) -> None:
        check = up_check(max_duration=600)
        a, b = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
        check = apply(check, ping("start", a), T0).check
        check = apply(check, ping("start", b), T0 + timedelta(minutes=5)).check
        check = apply(check, ping("success", a), T0 + timedelta(minutes=8)).check
        assert set(check.runs) == {b}
        # a finished in time; b still runs and overruns at its own deadline.
        assert sweep_rules.find_overdue(check, T0 + timedelta(minutes=15) - S) is None
        overdue = sweep_rules.find_overdue(check, T0 + timedelta(minutes=15))
        assert overdue is not None and overdue.expired_runs == frozenset({b})

    def test_success_with_other_rid_leaves_runs_open(self) -> None:
        a, other = "aaaaaaaa-0000-4000-8000-000000000001", "cccccccc-0000-4000-8000-000000000003"
        check = apply(up_check(), ping("start", a), T0).check
        result = apply(check, ping("success", other), T0 + S)
        assert set(result.check.runs) == {a} and result.duration is None

    def test_success_without_rid_closes_every_run(self) -> None:
        a = "aaaaaaaa-0000-4000-8000-000000000001"
        check = apply(up_check(), ping("start", a), T0).check
        check = apply(check, ping("start"), T0 + S).check
        assert apply(check, ping(), T0 + 2 * S).check.runs == {}

    def test_fail_with_rid_closes_its_run(self) -> None:
        a = "aaaaaaaa-0000-4000-8000-000000000001"
        check = apply(up_check(), ping("start", a), T0).check
        result = apply(check, ping("fail", a), T0 + S)
        assert result.check.runs == {} and result.check.status == "down"

    def test_overrun_flip_closes_the_run_so_it_fires_once(self) -> None:
        started = apply(up_check(max_duration=600), ping("start"), T0).check
        overdue = sweep_rules.find_overdue(started, T0 + timedelta(minutes=10))
        assert overdue is not None
        down, flip = sweep_rules.flip_down(started, overdue, lease_from=T0 + timedelta(minutes=10))
        assert down.runs == {} and flip.reason == "overrun"
        recovered = apply(down, ping(), T0 + timedelta(minutes=11)).check
        assert sweep_rules.find_overdue(recovered, T0 + timedelta(minutes=30)) is None

    def test_open_runs_are_bounded(self) -> None:
        check = up_check()
        for i in range(domain.MAX_OPEN_RUNS + 5):
            rid = f"aaaaaaaa-0000-4000-8000-{i:012d}"
            check = apply(check, ping("start", rid), T0 + i * S).check
        assert len(check.runs) == domain.MAX_OPEN_RUNS
        assert "aaaaaaaa-0000-4000-8000-000000000000" not in check.runs


class TestSweepDecisions:
    def test_flip_is_dated_at_the_computed_deadline_not_the_sweep(self) -> None:
        check = up_check()
        late_sweep = T0 + timedelta(hours=5)
        overdue = sweep_rules.find_overdue(check, late_sweep)
        assert overdue is not None
        _, flip = sweep_rules.flip_down(check, overdue, lease_from=late_sweep)
        assert flip.at == T0 + timedelta(hours=1, minutes=10)
        # The delivery lease runs from the sweep, so a second sweep cannot take it at once.
        assert flip.lease == late_sweep + domain.DELIVERY_LEASE

    def test_flip_ids_are_stable_for_the_same_transition(self) -> None:
        check = up_check()
        overdue = sweep_rules.find_overdue(check, T0 + timedelta(hours=2))
        assert overdue is not None
        _, first = sweep_rules.flip_down(check, overdue, lease_from=T0 + timedelta(hours=2))
        _, second = sweep_rules.flip_down(check, overdue, lease_from=T0 + timedelta(hours=3))
        assert first.id == second.id

    def test_earliest_expired_deadline_wins(self) -> None:
        check = apply(up_check(max_duration=60), ping("start"), T0 + timedelta(minutes=1)).check
        overdue = sweep_rules.find_overdue(check, T0 + timedelta(hours=3))
        assert overdue is not None and overdue.reason == "overrun"

    def test_deliverable_only_after_lease(self) -> None:
        down = apply(up_check(), ping("fail"), T0).check
        flip = next(iter(down.outbox.values()))
        assert domain.deliverable(down, flip.lease - S) == []
        assert domain.deliverable(down, flip.lease) == [flip]

    def test_naive_times_are_rejected(self) -> None:
        with pytest.raises(ValueError):
            sweep_rules.find_overdue(up_check(), datetime(2026, 1, 1))

    def test_state_change_detection(self) -> None:
        check = up_check()
        same = apply(check, ping(), T0 + S).check
        assert not domain.has_state_change(check, same)
        assert domain.has_state_change(check, replace(check, status="down"))
