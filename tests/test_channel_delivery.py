"""Delivered / retry / permanent, and the backoff schedule, as pure functions."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from chalicelib.channels import delivery
from chalicelib.channels.delivery import (
    Delivered,
    Failed,
    HttpReply,
    NetworkError,
    Refused,
    Retry,
    classify,
)
from tests.channel_samples import T0


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(status: int) -> None:
    verdict = classify(HttpReply(status), T0)
    assert verdict == Delivered(status)
    assert delivery.last_error(verdict) == ""


@pytest.mark.parametrize("status", [500, 502, 503, 504, 599, 429])
def test_5xx_and_429_are_retried(status: int) -> None:
    verdict = classify(HttpReply(status, body=b"  busy\n try later "), T0)
    assert verdict == Retry(f"HTTP {status}: busy try later")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 410, 413, 422, 499])
def test_other_4xx_are_permanent(status: int) -> None:
    assert classify(HttpReply(status), T0) == Failed(f"HTTP {status}")


def test_a_redirect_is_not_followed_and_says_where_it_pointed() -> None:
    reply = HttpReply(302, {"location": "http://169.254.169.254/latest/meta-data/"})
    assert classify(reply, T0) == Failed(
        "HTTP 302: redirect to http://169.254.169.254/latest/meta-data/ not followed"
    )


def test_network_errors_retry_and_refusals_do_not() -> None:
    assert classify(NetworkError("timed out"), T0) == Retry("network error: timed out")
    assert classify(Refused("10.0.0.1 is private"), T0) == Failed("refused: 10.0.0.1 is private")


def test_the_error_text_is_bounded() -> None:
    verdict = classify(HttpReply(500, body=b"x" * 10_000), T0)
    assert isinstance(verdict, Retry) and len(verdict.error) == len("HTTP 500: ") + 200


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Mon, 02 Mar 2026 12:01:30 GMT", 90.0),
        ("Mon, 02 Mar 2026 11:00:00 GMT", 0.0),  # in the past: retry as soon as allowed
        ("soon", None),
        ("-5", None),
        ("", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(header: str, seconds: float | None) -> None:
    verdict = classify(HttpReply(429, {"Retry-After": header}), T0)
    assert verdict == Retry("HTTP 429", seconds)


def test_retry_after_stretches_the_backoff_up_to_a_ceiling() -> None:
    never_jitter = lambda: 0.0  # noqa: E731
    assert delivery.retry_delay(1, never_jitter, retry_after=120.0) == 120.0
    assert delivery.retry_delay(1, never_jitter, retry_after=1.0) == 5.0  # backoff still applies
    assert delivery.retry_delay(1, never_jitter, retry_after=10**9) == 3600.0


def test_the_retry_window_is_at_least_an_hour_even_with_the_shortest_draws() -> None:
    shortest = delivery.retry_schedule(lambda: 0.0)
    assert len(shortest) == delivery.MAX_RETRIES
    assert sum(shortest) >= 3600
    longest = delivery.retry_schedule(lambda: 1.0 - 1e-12)
    assert sum(longest) <= 7570  # and the budget ends within about two hours
    assert max(longest) <= delivery.MAX_DELAY_SECONDS


def test_delays_grow_exponentially_with_jitter_inside_the_band() -> None:
    rng = random.Random(7)
    for n in range(1, delivery.MAX_RETRIES + 1):
        ceiling = min(900.0, 10.0 * 2 ** (n - 1))
        for _ in range(50):
            assert ceiling / 2 <= delivery.retry_delay(n, rng.random) <= ceiling
    assert delivery.retry_delay(10_000, rng.random) <= delivery.MAX_DELAY_SECONDS
    draws = {round(delivery.retry_delay(3, rng.random), 6) for _ in range(20)}
    assert len(draws) > 1  # jittered, not a fixed step


def test_next_retry_stops_when_delivered_permanent_or_out_of_budget() -> None:
    rng = random.Random(1).random
    assert delivery.next_retry(1, Retry("HTTP 503"), rng) is not None
    assert delivery.next_retry(delivery.MAX_RETRIES, Retry("HTTP 503"), rng) is not None
    assert delivery.next_retry(delivery.MAX_RETRIES + 1, Retry("HTTP 503"), rng) is None
    assert delivery.next_retry(1, Failed("HTTP 404"), rng) is None
    assert delivery.next_retry(1, Delivered(200), rng) is None


def test_a_naive_or_relative_date_is_ignored() -> None:
    assert delivery.parse_retry_after("Mon, 02 Mar 2026 12:01:30 -0000", T0) is None
    assert delivery.parse_retry_after("Mon, 02 Mar 2026 12:01:30 +0000", T0) == 90.0
    assert delivery.parse_retry_after(None, T0 + timedelta(days=1)) is None
