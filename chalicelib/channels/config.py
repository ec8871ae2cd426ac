"""A channel as the API creates it: ``{"name", "kind", <kind fields>}`` validated per kind.

Error texts follow Healthchecks' ``json validation error: <field> <problem>`` (spec.py), so a
bad channel gets the same kind of 400 as a bad check. Unknown fields are ignored, as there.
The fields that carry credentials are named in ``secret_fields`` so the store can encrypt them
and the API never returns them: webhook and chat URLs embed their token, routing and API keys
are tokens. A webhook without a secret gets a generated one, returned once at creation.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.channels.chatbot import FORMATS
from chalicelib.channels.kinds import KINDS
from chalicelib.channels.opsgenie import REGION_URLS
from chalicelib.channels.ssrf import UnsafeUrl, vet_url_shape
from chalicelib.errors import ValidationFailed

NAME_MAX = 100
URL_MAX = 2048
SECRET_MIN = 16
SECRET_MAX = 256
PAGERDUTY_KEY_LENGTH = 32  # the Events API rejects others: "should be 32 characters"
API_KEY_MAX = 200
TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")

SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "webhook": ("url", "secret"),
    "slack": ("url",),
    "msteams": ("url",),
    "discord": ("url",),
    "pagerduty": ("routing_key",),
    "opsgenie": ("api_key",),
    "sns": (),
}


@dataclass(frozen=True)
class ChannelSpec:
    name: str
    kind: str
    config: dict[str, str]  # the kind's fields, normalised: what kinds.build_delivery reads
    generated_secret: str | None = None  # a webhook secret Vigil made; show it once

    @property
    def secret_fields(self) -> tuple[str, ...]:
        return SECRET_FIELDS[self.kind]

    def channel(self) -> dict[str, str]:
        """The mapping ``kinds.build_delivery`` takes."""
        return {"kind": self.kind, **self.config}


def parse_channel_spec(
    body: Mapping[str, Any],
    *,
    allow_loopback: bool = False,
    new_secret: Callable[[], str] = lambda: secrets.token_urlsafe(32),
) -> ChannelSpec:
    name = _string(body, "name", NAME_MAX, required=False) or ""
    kind = body.get("kind")
    if kind not in KINDS:
        raise ValidationFailed("kind has unexpected value" if "kind" in body else "kind is missing")
    config, generated = _KIND_PARSERS[kind](body, allow_loopback, new_secret)
    return ChannelSpec(name=name, kind=kind, config=config, generated_secret=generated)


_Parsed = tuple[dict[str, str], str | None]


def _webhook(body: Mapping[str, Any], loopback: bool, new_secret: Callable[[], str]) -> _Parsed:
    url = _url(body, "url", loopback)
    secret = _string(body, "secret", SECRET_MAX, required=False)
    if secret and len(secret) < SECRET_MIN:
        raise ValidationFailed("secret is too short")
    if secret:
        return {"url": url, "secret": secret}, None
    generated = new_secret()
    return {"url": url, "secret": generated}, generated


def _url_only(body: Mapping[str, Any], loopback: bool, _: Callable[[], str]) -> _Parsed:
    return {"url": _url(body, "url", loopback)}, None


def _pagerduty(body: Mapping[str, Any], loopback: bool, _: Callable[[], str]) -> _Parsed:
    key = _string(body, "routing_key", PAGERDUTY_KEY_LENGTH)
    if len(key) != PAGERDUTY_KEY_LENGTH:
        raise ValidationFailed("routing_key is not 32 characters")
    config = {"routing_key": key}
    if body.get("url"):
        config["url"] = _url(body, "url", loopback)
    return config, None


def _opsgenie(body: Mapping[str, Any], loopback: bool, _: Callable[[], str]) -> _Parsed:
    config = {"api_key": _string(body, "api_key", API_KEY_MAX)}
    region = body.get("region", "us")
    if region not in REGION_URLS:
        raise ValidationFailed("region has unexpected value")
    config["region"] = region
    if body.get("url"):
        config["url"] = _url(body, "url", loopback)
    return config, None


def _sns(body: Mapping[str, Any], loopback: bool, _: Callable[[], str]) -> _Parsed:
    arn = _string(body, "topic_arn", 512)
    if not TOPIC_ARN.match(arn):
        raise ValidationFailed("topic_arn is not an SNS topic ARN")
    fmt = body.get("format", "vigil")
    if fmt not in FORMATS:
        raise ValidationFailed("format has unexpected value")
    return {"topic_arn": arn, "format": fmt}, None


_KIND_PARSERS: dict[str, Callable[[Mapping[str, Any], bool, Callable[[], str]], _Parsed]] = {
    "webhook": _webhook,
    "slack": _url_only,
    "msteams": _url_only,
    "discord": _url_only,
    "pagerduty": _pagerduty,
    "opsgenie": _opsgenie,
    "sns": _sns,
}


def _string(body: Mapping[str, Any], field: str, max_length: int, *, required: bool = True) -> str:
    if field not in body or (body[field] is None and not required):
        if required:
            raise ValidationFailed(f"{field} is missing")
        return ""
    value = body[field]
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} is not a string")
    if len(value) > max_length:
        raise ValidationFailed(f"{field} is too long")
    if required and not value.strip():
        raise ValidationFailed(f"{field} is empty")
    return value


def _url(body: Mapping[str, Any], field: str, allow_loopback: bool) -> str:
    url = _string(body, field, URL_MAX).strip()
    try:
        vet_url_shape(url, allow_loopback=allow_loopback)
    except UnsafeUrl as unsafe:
        raise ValidationFailed(f"{field} is not allowed: {unsafe}") from None
    return url
