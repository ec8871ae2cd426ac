"""Runtime settings, read from the environment only when first needed.

Chalice's test client swaps ``os.environ`` per request, and Lambda cold starts should not pay
for configuration nobody asked for, so nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.errors import ConfigError

DEFAULT_PING_BODY_LIMIT_BYTES = 10_000
DEFAULT_DUE_SHARDS = 4
DEFAULT_PING_LOG_LIMIT = 100
# Healthchecks' self-hosted default; a guard against runaway auto-provisioning.
DEFAULT_CHECK_LIMIT = 10_000
# What one sweep pass may spend, so that no project's backlog (or a failing SNS) can stretch
# it past its invocation: publish attempts, and seconds before it leaves the rest for the next.
DEFAULT_SWEEP_PUBLISH_LIMIT = 1_000
DEFAULT_SWEEP_BUDGET_SECONDS = 40


@dataclass(frozen=True)
class Settings:
    """The deployment's configuration, read from the environment."""

    table: str
    topic_arn: str
    ping_body_limit: int = DEFAULT_PING_BODY_LIMIT_BYTES
    sweep_seconds: int | None = None
    due_shards: int = DEFAULT_DUE_SHARDS
    site_root: str | None = None
    # Healthchecks' PING_ENDPOINT: the base every check's ping_url names (the function URL's
    # ``.../ping/`` when deployed); None keeps ``<site root>/ping/``. Always ends in "/".
    ping_endpoint: str | None = None
    ping_log_limit: int = DEFAULT_PING_LOG_LIMIT
    check_limit: int = DEFAULT_CHECK_LIMIT
    sweep_publish_limit: int = DEFAULT_SWEEP_PUBLISH_LIMIT
    sweep_budget_seconds: int = DEFAULT_SWEEP_BUDGET_SECONDS
    # Alert channels (issue 12): the KMS key sealing their secrets (default: the topic's key,
    # ``alias/<topic name>`` as bootstrap makes it), the notifier's queue and dead letters, and
    # whether channel URLs may name loopback (the local stack only; never deployed).
    channel_key: str = ""
    notify_queue_url: str = ""
    dead_letter_url: str = ""
    allow_loopback: bool = False

    @property
    def channel_key_id(self) -> str:
        return self.channel_key or "alias/" + self.topic_arn.rsplit(":", 1)[-1]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            table=_required(environ, "VIGIL_TABLE"),
            topic_arn=_required(environ, "VIGIL_TOPIC_ARN"),
            ping_body_limit=_positive_int(
                environ, "VIGIL_PING_BODY_LIMIT", DEFAULT_PING_BODY_LIMIT_BYTES
            ),
            sweep_seconds=_optional_positive_int(environ, "VIGIL_SWEEP_SECONDS"),
            due_shards=_positive_int(environ, "VIGIL_DUE_SHARDS", DEFAULT_DUE_SHARDS),
            site_root=environ.get("VIGIL_SITE_ROOT") or None,
            ping_endpoint=_ping_endpoint(environ),
            ping_log_limit=_positive_int(environ, "VIGIL_PING_LOG_LIMIT", DEFAULT_PING_LOG_LIMIT),
            check_limit=_positive_int(environ, "VIGIL_CHECK_LIMIT", DEFAULT_CHECK_LIMIT),
            sweep_publish_limit=_positive_int(
                environ, "VIGIL_SWEEP_PUBLISH_LIMIT", DEFAULT_SWEEP_PUBLISH_LIMIT
            ),
            sweep_budget_seconds=_positive_int(
                environ, "VIGIL_SWEEP_BUDGET_SECONDS", DEFAULT_SWEEP_BUDGET_SECONDS
            ),
            channel_key=environ.get("VIGIL_CHANNEL_KEY", "").strip(),
            notify_queue_url=environ.get("VIGIL_NOTIFY_QUEUE_URL", "").strip(),
            dead_letter_url=environ.get("VIGIL_NOTIFY_DEAD_LETTER_URL", "").strip(),
            allow_loopback=environ.get("VIGIL_ALLOW_LOOPBACK_URLS", "") == "1",
        )


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def _ping_endpoint(environ: Mapping[str, str]) -> str | None:
    raw = environ.get("VIGIL_PING_ENDPOINT", "").strip()
    if not raw:
        return None
    if not raw.startswith(("https://", "http://")):
        raise ConfigError(f"VIGIL_PING_ENDPOINT must be an http(s) URL, got {raw!r}")
    # ping_url is endpoint + uuid, so ".../ping" would give ".../ping<uuid>".
    return raw if raw.endswith("/") else raw + "/"


def _optional_positive_int(environ: Mapping[str, str], name: str) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    return _parse_positive(name, raw)


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    value = _optional_positive_int(environ, name)
    return default if value is None else value


def _parse_positive(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {raw!r}")
    return value


DEFAULT_NOTIFY_QUEUE = "vigil-alerts-notify"


def notify_queue_name(environ: Mapping[str, str]) -> str:
    """The notify queue chalice subscribes the notifier to (at deploy and package time)."""
    return environ.get("VIGIL_NOTIFY_QUEUE", "").strip() or DEFAULT_NOTIFY_QUEUE
