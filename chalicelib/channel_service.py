"""Channel use cases: list, create and delete a project's alert channels; resolve ``channels``.

Shared by the API (``/api/v3/channels/``) and the operator CLI. Every project sees the
deployment's SNS topic as its first channel (kind ``sns``): it cannot be deleted, and it is
where SNS subscribers (email, SMS, queues, Lambda) get their alerts, as before channels existed.
Secrets never leave here: the listing and the creation answer carry no URL or key, except the
generated webhook secret, shown once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from chalicelib.channel_ports import ChannelStore, StoredChannel
from chalicelib.channels.config import parse_channel_spec
from chalicelib.check_json import iso_seconds
from chalicelib.deps import Deps
from chalicelib.domain import Check
from chalicelib.errors import BadRequest, ConfigError, NotFound, ValidationFailed
from chalicelib.logs import log_event
from chalicelib.routing import Named, resolve, topic_channel_id, without
from chalicelib.spec import CheckSpec
from chalicelib.store import retry_on_conflict


def channel_store(deps: Deps) -> ChannelStore:
    if deps.channels is None:
        raise ConfigError("alert channels are not configured")
    return deps.channels


def topic_channel(deps: Deps) -> dict[str, str]:
    arn = deps.settings.topic_arn
    return {"id": topic_channel_id(arn), "name": arn.rsplit(":", 1)[-1], "kind": "sns"}


def list_channels(deps: Deps, project: str) -> list[dict[str, Any]]:
    """Healthchecks' ``{"id", "name", "kind"}`` plus its ``last_notify`` and ``last_error``."""
    stored = channel_store(deps).list(project)
    topic = topic_channel(deps)
    status = next((c for c in stored if c.kind == "status_only" and c.id == topic["id"]), None)
    listed: list[dict[str, Any]] = [{**topic, **_status(status)}]
    listed += [_public(c) for c in stored if c.kind != "status_only"]
    return listed


def create_channel(deps: Deps, project: str, body: dict[str, Any], now: datetime) -> dict[str, Any]:
    spec = parse_channel_spec(body, allow_loopback=deps.settings.allow_loopback)
    if spec.kind == "sns" and spec.config.get("topic_arn") == deps.settings.topic_arn:
        # Publishing alerts to the topic they came from would loop through the notifier.
        raise ValidationFailed("topic_arn is the deployment's alert topic, already a channel")
    stored = channel_store(deps).create(project, spec, now)
    log_event("channel_created", project=project, channel=stored.id, kind=stored.kind)
    created: dict[str, Any] = {"id": stored.id, "name": stored.name, "kind": stored.kind}
    if spec.generated_secret is not None:
        created["secret"] = spec.generated_secret
    return created


def delete_channel(deps: Deps, project: str, channel_id: str) -> None:
    """Remove the channel from every check of the project that routes to it, then delete it."""
    topic_id = topic_channel(deps)["id"]
    if channel_id == topic_id:
        raise BadRequest("the deployment's alert topic cannot be deleted")
    store = channel_store(deps)
    if store.get(project, channel_id) is None:
        raise NotFound()
    for check in deps.store.project_checks(project):
        _unroute(deps, check, channel_id, topic_id)
    if not store.delete(project, channel_id):
        raise NotFound()
    log_event("channel_deleted", project=project, channel=channel_id)


def _unroute(deps: Deps, check: Check, channel_id: str, topic_id: str) -> None:
    def write(current: Check) -> Check:
        remaining = without(current, channel_id, topic_id)
        if remaining is None:
            return current  # not (or no longer) routed there
        after = replace(current, channel_ids=remaining, alerts_enabled=remaining != "")
        return deps.store.write_config(current, after)

    retry_on_conflict(check, write)


def resolve_spec_channels(deps: Deps, project: str, spec: CheckSpec) -> CheckSpec:
    """``spec`` with ``channels`` resolved to canonical ids, or the Healthchecks 400."""
    if spec.channels is None:
        return spec
    topic = topic_channel(deps)
    named = [Named(topic["id"], topic["name"])]
    if deps.channels is not None:
        stored = deps.channels.list(project)
        named += [Named(c.id, c.name) for c in stored if c.kind != "status_only"]
    return replace(spec, channels=resolve(spec.channels, named))


def _public(channel: StoredChannel) -> dict[str, Any]:
    return {"id": channel.id, "name": channel.name, "kind": channel.kind, **_status(channel)}


def _status(channel: StoredChannel | None) -> dict[str, Any]:
    if channel is None:
        return {"last_notify": None, "last_error": ""}
    return {"last_notify": iso_seconds(channel.last_notify), "last_error": channel.last_error}
