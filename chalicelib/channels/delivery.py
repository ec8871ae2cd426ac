"""Whether an attempt delivered, should be retried, or failed for good; and when to retry.

Issue 12: retry network errors, 5xx and 429 with exponential backoff for at least an hour;
any other 4xx is permanent (the request itself is wrong: a revoked webhook, a bad routing
key), as is a URL the SSRF guard refused. ``Retry-After`` (seconds or an HTTP date, RFC 9110
§10.2.3) is honoured, up to a ceiling so a hostile endpoint cannot park a message forever.

Backoff uses "equal jitter": each delay is drawn from [d/2, d] for d = min(cap, first × 2^n).
Spreading retries keeps a recovering endpoint from being hit by every queued alert at once,
and the lower half guarantees the retry window: the delays of MAX_RETRIES retries sum to at
least RETRY_WINDOW_SECONDS whatever the random draws. The cap (900 s) is SQS's largest
``DelaySeconds``, so the notifier can re-queue with a delay or change visibility alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime

FIRST_DELAY_SECONDS = 10.0
MAX_DELAY_SECONDS = 900.0
MAX_RETRIES = 14
RETRY_WINDOW_SECONDS = 3600.0
MAX_RETRY_AFTER_SECONDS = 3600.0
ERROR_BODY_CHARS = 200

Random = Callable[[], float]  # uniform in [0, 1), e.g. random.Random(seed).random


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class NetworkError:
    """No HTTP answer: DNS failure, refused or reset connection, TLS error, timeout."""

    message: str


@dataclass(frozen=True)
class Refused:
    """Not attempted: the URL is not one Vigil may call (SSRF guard, bad scheme)."""

    reason: str


Outcome = HttpReply | NetworkError | Refused


@dataclass(frozen=True)
class Delivered:
    status: int


@dataclass(frozen=True)
class Retry:
    error: str
    retry_after: float | None = None  # seconds the endpoint asked us to wait


@dataclass(frozen=True)
class Failed:
    error: str


Verdict = Delivered | Retry | Failed


def classify(outcome: Outcome, now: datetime) -> Verdict:
    if isinstance(outcome, NetworkError):
        return Retry(f"network error: {outcome.message}")
    if isinstance(outcome, Refused):
        return Failed(f"refused: {outcome.reason}")
    status = outcome.status
    if 200 <= status < 300:
        return Delivered(status)
    error = _http_error(outcome)
    if status == 429 or 500 <= status < 600:
        return Retry(error, parse_retry_after(_header(outcome.headers, "Retry-After"), now))
    if 300 <= status < 400:
        location = _header(outcome.headers, "Location") or "?"
        return Failed(f"HTTP {status}: redirect to {location[:200]} not followed")
    return Failed(error)


def last_error(verdict: Verdict) -> str:
    """The channel's ``last_error``: empty when the attempt delivered (as in Healthchecks)."""
    return "" if isinstance(verdict, Delivered) else verdict.error


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    return max((when - now).total_seconds(), 0.0)


def retry_delay(retry_number: int, rng: Random, retry_after: float | None = None) -> float:
    """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
    doublings = min(max(retry_number - 1, 0), 30)  # past the cap anyway; no float overflow
    ceiling = min(MAX_DELAY_SECONDS, FIRST_DELAY_SECONDS * 2.0**doublings)
    delay = ceiling / 2 + rng() * ceiling / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_SECONDS))
    return delay


def next_retry(retry_number: int, verdict: Verdict, rng: Random) -> float | None:
    """The delay before retry ``retry_number``, or None: delivered, permanent, or budget spent.

    None for a ``Retry`` verdict means the retry budget is spent: dead-letter the message.
    """
    if not isinstance(verdict, Retry) or retry_number > MAX_RETRIES:
        return None
    return retry_delay(retry_number, rng, verdict.retry_after)


def retry_schedule(rng: Random) -> list[float]:
    """Every delay of a message that fails each time, first retry first."""
    return [retry_delay(n, rng) for n in range(1, MAX_RETRIES + 1)]


def _http_error(reply: HttpReply) -> str:
    text = reply.body[:ERROR_BODY_CHARS].decode("utf-8", errors="replace").strip()
    return f"HTTP {reply.status}" + (f": {' '.join(text.split())}" if text else "")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None)
