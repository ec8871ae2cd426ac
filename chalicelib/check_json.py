"""The Healthchecks API v3 check JSON (hc-protocol.md §3.4), plus Vigil's extra fields."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from chalicelib import domain
from chalicelib.domain import Check
from chalicelib.routing import routed_ids


def iso_seconds(value: datetime | None) -> str | None:
    """Healthchecks prints check times without microseconds."""
    return None if value is None else value.replace(microsecond=0).isoformat()


def check_to_dict(
    check: Check,
    now: datetime,
    *,
    readonly: bool = False,
    version: int = 3,
    channel_id: str = "",
    ping_endpoint: str | None = None,
) -> dict[str, Any]:
    """The check as the API shows it; ``ping_endpoint`` is the deployment's (settings)."""
    doc: dict[str, Any] = {
        "name": check.name,
        "slug": check.slug,
        "tags": check.tags,
        "desc": check.desc,
        "grace": check.grace,
        "n_pings": check.n_pings,
        "status": _status(check, now, version),
        "started": bool(check.runs) and check.status != "down",
        "last_ping": iso_seconds(check.last_ping),
        "next_ping": iso_seconds(domain.schedule_deadline(check)),
        "manual_resume": check.manual_resume,
        "methods": check.methods,
        # Deprecated: the keywords, shown only when they filter email subjects.
        "subject": check.success_kw if check.filter_subject else "",
        "subject_fail": check.failure_kw if check.filter_subject else "",
        "start_kw": check.start_kw,
        "success_kw": check.success_kw,
        "failure_kw": check.failure_kw,
        "filter_subject": check.filter_subject,
        "filter_body": check.filter_body,
        "filter_http_body": check.filter_http_body,
        "filter_default_fail": check.filter_default_fail,
        "badge_url": f"{check.site_root}/b/2/{check.badge_key}.svg",
        # Vigil extensions: clients that do not know them ignore them.
        "max_duration": int(check.run_limit.total_seconds()),
        "runs": [
            {
                "rid": None if rid == domain.NO_RID else rid,
                "started": iso_seconds(at),
                "last_progress": iso_seconds(check.progress.get(rid)),
            }
            for rid, at in sorted(check.runs.items(), key=lambda pair: pair[1])
        ],
        **_run_health(check),
    }
    if check.last_duration is not None:
        doc["last_duration"] = int(check.last_duration)
    if check.kind == "simple":
        doc["timeout"] = check.timeout
    else:
        doc["schedule"] = check.schedule
        doc["tz"] = check.tz
    if readonly:
        doc["unique_key"] = unique_key(check.uuid)
    else:
        doc.update(_write_fields(check, version, ping_endpoint))
        doc["channels"] = ",".join(routed_ids(check, channel_id))
    return doc


def _run_health(check: Check) -> dict[str, Any]:
    """Issue 11's fields: the rules as configured, and where the check stands on them."""
    return {
        "stall_timeout": check.stall_timeout,
        "min_duration": check.min_duration,
        "fail_threshold": check.fail_threshold,
        "recover_threshold": check.recover_threshold,
        "repeat_every": check.repeat_every,
        "quiet": [window.to_dict(check.tz) for window in check.quiet],
        "depends_on": list(check.depends_on),
        "failures": check.failures,
        "held_by": list(held_by(check)),
    }


def held_by(check: Check) -> tuple[str, ...]:
    """The upstream checks holding the current outage's down alert, if it is held."""
    outage = check.outage
    held = None if outage is None else check.outbox.get(outage.key)
    return held.held_by if held is not None and held.held else ()


def unique_key(check_uuid: str) -> str:
    """Healthchecks' stable read-only id: SHA1 of the first 16 hex chars of the uuid."""
    return hashlib.sha1(check_uuid.replace("-", "")[:16].encode()).hexdigest()


def _status(check: Check, now: datetime, version: int) -> str:
    status = domain.display_status(check, now)
    if version == 1 and status not in ("down", "paused") and check.runs:
        return "started"
    return status


def ping_url(check: Check, ping_endpoint: str | None) -> str:
    """``PING_ENDPOINT + uuid``, as Healthchecks; without an endpoint, the check's own site.

    The endpoint is the deployment's, not the check's: changing it changes every ping_url."""
    if ping_endpoint:
        return f"{ping_endpoint}{check.uuid}"
    return f"{check.site_root}/ping/{check.uuid}"


def _write_fields(check: Check, version: int, ping_endpoint: str | None) -> dict[str, Any]:
    api = f"{check.site_root}/api/v{version}/checks/{check.uuid}"
    return {
        "uuid": check.uuid,
        "ping_url": ping_url(check, ping_endpoint),
        "update_url": api,
        "pause_url": f"{api}/pause",
        "resume_url": f"{api}/resume",
    }
