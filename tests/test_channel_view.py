"""What every channel message says: the alert document read into words, and text limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.alerts import alert_document
from chalicelib.channels import text
from chalicelib.channels.view import read_alert
from chalicelib.domain import Check, Flip, LoggedPing, Ping
from tests import channel_samples as samples


def test_a_missed_run_says_missed_and_when_it_was_expected() -> None:
    view = read_alert(samples.down())
    assert view.title == "DOWN: nightly-backup"
    assert view.happened == "Missed: no ping arrived by its deadline plus grace."
    assert view.expected == "2026-03-02 11:50:00 UTC (grace 10 min)"
    assert view.at == "2026-03-02 12:00:00 UTC"
    assert view.schedule == "every 1 d"
    assert view.tags == ("prod", "db")


@pytest.mark.parametrize(
    ("reason", "check", "sentence"),
    [
        ("fail", {}, "Failed: the job reported a failure (exit status 3)."),
        ("overrun", {}, "Overran: a run did not finish within its maximum duration of 10 min."),
        (
            "stalled",
            {"stall_timeout": 900},
            "Stalled: a running job sent no start or progress ping for 15 min.",
        ),
        (
            "too_fast",
            {"min_duration": 90},
            "Finished too fast: a run ended sooner than its minimum duration of 1 min 30 s.",
        ),
        ("eclipse", {}, "Went down (reason: eclipse)."),
        (None, {}, "Went down."),
    ],
)
def test_each_reason_reads_in_words(
    reason: str | None, check: dict[str, int], sentence: str
) -> None:
    doc = samples.down(reason=reason, check=check, last_ping={"exitstatus": 3})
    view = read_alert(doc)
    assert view.happened == sentence
    # Only a missed run has an expected time worth showing.
    assert (view.expected is not None) == (reason is None)


def test_a_reminder_says_how_long_it_has_been_down_and_why() -> None:
    view = read_alert(samples.reminder())
    assert view.title == "STILL DOWN: nightly-backup"
    assert view.happened == (
        "Still down for 2 h (reminder 2). "
        "Cause: missed, no ping arrived by its deadline plus grace."
    )
    assert ("Failures in a row", "3") in view.facts
    assert view.tone == "warning"


def test_up_is_the_matching_recovery() -> None:
    view = read_alert(samples.up())
    assert view.title == "UP: nightly-backup"
    assert view.happened.startswith("Recovered")
    assert view.expected is None
    assert view.tone == "good"


def test_an_unknown_event_and_empty_document_still_render() -> None:
    view = read_alert(samples.strange())
    assert view.title == "PAUSED: unnamed check"
    assert view.happened == "Status changed (paused): ? → ?."
    assert view.at == "unknown time"
    assert view.links == () and view.last_ping is None and view.check_uuid == ""


def test_garbage_values_never_raise() -> None:
    doc = {"event": ["x"], "check": "nope", "flip": {"at": "yesterday"}, "last_ping": 7}
    view = read_alert(doc)
    assert view.title == "UNKNOWN: unnamed check"
    assert view.at == "yesterday"


def test_the_last_ping_shows_its_summary_and_the_tail_of_its_body() -> None:
    body = "".join(f"line {i}\n" for i in range(200)) + "ERROR: disk full"
    view = read_alert(samples.down(last_ping={"body": body, "exitstatus": 1}))
    assert view.last_ping is not None
    assert view.last_ping.summary == (
        "#12 success at 2026-03-01 11:50:00 UTC from 203.0.113.7, exit status 1"
    )
    assert view.last_ping.body_tail.endswith("ERROR: disk full")
    assert view.last_ping.body_tail.startswith(text.MARKER)
    assert len(view.last_ping.body_tail) == 500


def test_only_http_links_are_offered() -> None:
    doc = samples.down(check={"update_url": "javascript:alert(1)", "badge_url": None})
    labels = [label for label, _ in read_alert(doc).links]
    assert labels == ["Ping URL"]


def test_the_uuid_comes_from_the_ping_url_when_the_document_has_none() -> None:
    doc = samples.down()
    del doc["check"]["uuid"]
    assert read_alert(doc).check_uuid == samples.UUID


def test_the_real_alert_document_reads_back() -> None:
    check = Check(
        uuid=samples.UUID,
        project="p",
        created=samples.T0,
        name="etl",
        grace=60,
        site_root=samples.SITE,
    )
    flip = Flip("f-9", samples.T0, "up", "down", "fail", lease=samples.T0 + timedelta(minutes=1))
    last = LoggedPing(4, samples.T0, "fail", Ping(action="fail", exitstatus=2, body=b"boom"))
    view = read_alert(alert_document(check, flip, last))
    assert view.title == "DOWN: etl"
    assert view.happened == "Failed: the job reported a failure (exit status 2)."
    assert view.flip_id == "f-9" and view.check_uuid == samples.UUID
    assert view.last_ping is not None and view.last_ping.body_tail == "boom"
    assert [label for label, _ in view.links] == ["Check", "Ping URL", "Badge"]


@pytest.mark.parametrize("limit", [1, 2, 5, 50])
def test_truncate_fits_the_limit_and_marks_the_cut(limit: int) -> None:
    cut = text.truncate("x" * 100, limit)
    assert len(cut) == limit
    assert cut.endswith(text.MARKER)
    assert text.truncate("short", limit + 5) == "short"


def test_tail_keeps_the_end() -> None:
    assert text.tail("abcdefghij", 5) == "…ghij"
    assert text.tail("abc", 5) == "abc"


def test_fit_escaped_never_splits_an_escape_sequence() -> None:
    for limit in range(2, 40):
        cut = text.fit_escaped("&" * 50, limit, text.escape_slack)
        assert len(cut) <= limit
        assert cut.rstrip(text.MARKER).replace("&amp;", "") == ""
        tail = text.fit_escaped("<" * 50, limit, text.escape_slack, keep_end=True)
        assert len(tail) <= limit and tail.lstrip(text.MARKER).replace("&lt;", "") == ""


def test_slack_escaping_neutralises_mentions_and_links() -> None:
    assert text.escape_slack("<!channel> & <https://x|y>") == (
        "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"
    )


def test_markdown_escaping_keeps_text_literal() -> None:
    assert text.escape_markdown("*a* _b_ [c](d) `e` ~f~ |g| <@1>") == (
        r"\*a\* \_b\_ \[c\](d) \`e\` \~f\~ \|g\| \<@1\>"
    )
    assert text.escape_markdown("# h\n- item\n1. one\nplain - dash") == (
        "\\# h\n\\- item\n\\1. one\nplain - dash"
    )


def test_code_fences_in_user_text_cannot_close_a_block() -> None:
    assert "```" not in text.break_fences("a```b``````c")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "0 s"), (59, "59 s"), (60, "1 min"), (5400, "1 h 30 min"), (90061, "1 d 1 h")],
)
def test_durations_read_as_people_say_them(seconds: int, words: str) -> None:
    assert text.duration_words(seconds) == words
