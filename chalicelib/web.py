"""HTTP details: ping URL forms, what a ping request records, and every error's response.

Errors map to HTTP here and nowhere else: ping routes answer in Healthchecks' plain text,
management API routes in its JSON (``{"error": ...}``). Anything unexpected (including a
``ConfigError``: a broken deployment is our problem, not the client's) is logged with the
request id, counted (``InternalErrors``) and answered with a bare 500 ``internal error``.
Path and parameter formats are checked here too: API versions, ping numbers, ping keys.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from chalice.app import Response

from chalicelib import metrics
from chalicelib.badges import split_format
from chalicelib.domain import Action, Ping
from chalicelib.errors import InvalidUrl, NotAcceptable, NotFound, TextError, VigilError
from chalicelib.inputs import ascii_int
from chalicelib.logs import log_event

logger = logging.getLogger("vigil")

# Always fullmatch: ``$`` in re.match also matches before a trailing newline.
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SLUG_PATTERN = re.compile(r"[-a-zA-Z0-9_]+")
PING_KEY_PATTERN = re.compile(r"[a-z0-9]{22}")
API_VERSIONS = {"v1": 1, "v2": 2, "v3": 3}
# Ping numbers are a per-check counter; beyond this a path number cannot name a ping.
MAX_PING_NUMBER = 10**15
EXIT_STATUS_PATTERN = re.compile(r"[0-9]+")
SUFFIX_ACTIONS: dict[str, Action] = {"start": "start", "fail": "fail", "log": "log"}
SUFFIX_ACTIONS["progress"] = "progress"  # Vigil's heartbeat from a running job (issue 11)
MAX_EXIT_STATUS = 255
UA_MAX = 200
NO_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"
TEXT = "text/plain; charset=utf-8"
BINARY = "application/octet-stream"
BADGE_METHODS = "GET, HEAD, OPTIONS"


@dataclass(frozen=True)
class PingTarget:
    """Either a check uuid, or a project's ping key and a slug."""

    action: Action
    exitstatus: int | None = None
    check_uuid: str | None = None
    ping_key: str | None = None
    slug: str | None = None


def parse_ping_path(code: str, suffix: str | None = None, last: str | None = None) -> PingTarget:
    """The Healthchecks URL forms, at one, two or three path segments after ``/ping/``.

    ``/ping/<uuid>[/start|/fail|/log|/<0-255>]`` and
    ``/ping/<ping_key>/<slug>[/start|/fail|/log|/<0-255>]``. Like Django's URL resolver, the
    uuid forms are tried first, so ``/ping/<uuid>/<word>`` is a slug ping.
    """
    # Django's uuid converter takes the lowercase canonical form only; the rest is 404.
    if last is None and UUID_PATTERN.fullmatch(code):
        action = _action(suffix or "")
        if action is not None:
            return replace(action, check_uuid=code)
    if suffix is None:
        raise NotFound()
    if not SLUG_PATTERN.fullmatch(code) or not SLUG_PATTERN.fullmatch(suffix):
        raise NotFound()
    if suffix != suffix.lower():
        raise InvalidUrl()  # Healthchecks rejects an uppercase slug outright
    action = _action(last or "")
    if action is None or not PING_KEY_PATTERN.fullmatch(code):
        raise NotFound()
    return replace(action, ping_key=code, slug=suffix)


def api_version(segment: str) -> int:
    """``v1``, ``v2`` or ``v3``; any other version segment is a 404."""
    if segment not in API_VERSIONS:
        raise NotFound()
    return API_VERSIONS[segment]


def ping_number(segment: str) -> int:
    """A ping's number in ``.../pings/<n>/body``; anything else is a 404."""
    number = ascii_int(segment, MAX_PING_NUMBER)
    if number is None:
        raise NotFound()
    return number


def request_id(context: Mapping[str, Any] | None) -> str | None:
    """API Gateway's id for the request, to find its log lines."""
    found = (context or {}).get("requestId")
    return None if found is None else str(found)


def _action(suffix: str) -> PingTarget | None:
    if suffix in SUFFIX_ACTIONS or suffix == "":
        return PingTarget(SUFFIX_ACTIONS.get(suffix, "success"))
    if EXIT_STATUS_PATTERN.fullmatch(suffix):
        exitstatus = ascii_int(suffix, MAX_EXIT_STATUS)
        if exitstatus is None:
            raise InvalidUrl()  # above 255, however many digits it has
        return PingTarget("success" if exitstatus == 0 else "fail", exitstatus)
    return None


def ping_from_request(
    target: PingTarget,
    method: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    context: Mapping[str, Any],
    body: bytes,
    body_limit: int,
) -> Ping:
    return Ping(
        action=target.action,
        rid=query.get("rid"),
        exitstatus=target.exitstatus,
        method=method,
        ua=headers.get("user-agent", "")[:UA_MAX],
        remote_addr=remote_addr(headers, context),
        scheme=headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http",
        body=body[:body_limit],
    )


def remote_addr(headers: Mapping[str, str], context: Mapping[str, Any]) -> str:
    forwarded = headers.get("x-forwarded-for", "").split(",")[0].strip()
    address = forwarded or str(context.get("identity", {}).get("sourceIp") or "")
    return _strip_port(address)


def _strip_port(address: str) -> str:
    try:
        ipaddress.ip_address(address)
        return address
    except ValueError:
        pass
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and host.count(".") == 3:
        return host
    return address


def site_root(
    headers: Mapping[str, str], context: Mapping[str, Any], configured: str | None
) -> str:
    """The public base URL. API Gateway's default host serves under the stage's path."""
    if configured:
        return configured.rstrip("/")
    proto = headers.get("x-forwarded-proto", "http").split(",")[0].strip() or "http"
    host = headers.get("host") or str(context.get("domainName") or "localhost")
    stage = str(context.get("stage") or "")
    if host.endswith(".amazonaws.com") and stage:
        return f"{proto}://{host}/{stage}"
    return f"{proto}://{host}"


# --- responses --------------------------------------------------------------------------


Headers = dict[str, str | list[str]]


def body_bytes(raw: str | bytes | None) -> bytes:
    if raw is None:
        return b""
    return raw.encode() if isinstance(raw, str) else raw


def ping_headers(body_limit: int) -> Headers:
    return {
        "Content-Type": TEXT,
        "Access-Control-Allow-Origin": "*",
        "Ping-Body-Limit": str(body_limit),
        "Cache-Control": NO_CACHE,
    }


def ping_ok(method: str, body_limit: int, status: int = 200, text: str = "OK") -> Response:
    return Response(
        body="" if method == "HEAD" else text, status_code=status, headers=ping_headers(body_limit)
    )


def ping_error(error: Exception, method: str, request: str | None = None) -> Response:
    """Ping errors are plain text; like Healthchecks, they carry no CORS header."""
    status, text = _status_and_text(error, request)
    return Response(
        body="" if method == "HEAD" else text,
        status_code=status,
        headers={"Content-Type": TEXT, "Cache-Control": NO_CACHE},
    )


API_CORS: Headers = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "X-Api-Key",
    "Access-Control-Max-Age": "600",
}


def _allow(methods: str) -> str:
    return f"{methods}, OPTIONS" if methods else "OPTIONS"


def api_json(doc: Any, status: int = 200, methods: str = "GET, POST") -> Response:
    return Response(
        body=json.dumps(doc),
        status_code=status,
        headers={
            "Content-Type": "application/json",
            "Cache-Control": NO_CACHE,
            "Access-Control-Allow-Methods": _allow(methods),
            **API_CORS,
        },
    )


def api_error(error: Exception, methods: str = "GET, POST", request: str | None = None) -> Response:
    status, text = _status_and_text(error, request)
    if isinstance(error, TextError):
        return api_text(text.encode(), status, methods)
    return api_json({"error": text}, status, methods)


def api_text(body: bytes, status: int = 200, methods: str = "GET") -> Response:
    """Plain text; only for bodies we wrote ourselves, which are always UTF-8."""
    return Response(
        body=body.decode(),
        status_code=status,
        headers={"Content-Type": TEXT, "Access-Control-Allow-Methods": _allow(methods), **API_CORS},
    )


def api_body(body: bytes, accept: str | None) -> Response:
    """A logged ping body, byte for byte.

    UTF-8 comes back as ``text/plain``, as from Healthchecks. Anything else must travel as
    ``application/octet-stream``: Chalice base64-encodes it for API Gateway, which turns it
    back into bytes only for a request whose Accept header names a binary media type. A
    request that would get base64 text (or Chalice's own 400) instead gets a clear 406.
    """
    try:
        return api_text(body)
    except UnicodeDecodeError:
        pass
    if not _accepts(accept, BINARY):
        raise NotAcceptable()
    return Response(
        body=body,
        status_code=200,
        headers={"Content-Type": BINARY, "Access-Control-Allow-Methods": _allow("GET"), **API_CORS},
    )


def _accepts(accept: str | None, media_type: str) -> bool:
    ranges = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
    return media_type in ranges or "*/*" in ranges


def preflight(methods: str) -> Response:
    return Response(
        body="",
        status_code=204,
        headers={"Access-Control-Allow-Methods": _allow(methods), **API_CORS},
    )


# --- badges -----------------------------------------------------------------------------


def split_badge_name(name: str) -> tuple[str, str]:
    """``<stem>.<svg|json|shields>``; anything else is a 404, as in Healthchecks."""
    parts = split_format(name)
    if parts is None:
        raise NotFound()
    return parts


def badge_preflight() -> Response:
    """Badges are embedded anywhere: any origin may fetch them."""
    return Response(
        body="",
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": BADGE_METHODS,
            "Access-Control-Max-Age": "600",
        },
    )


def badge_response(content_type: str, body: str) -> Response:
    return Response(
        body=body,
        status_code=200,
        headers={
            "Content-Type": content_type,
            "Cache-Control": NO_CACHE,
            "Access-Control-Allow-Origin": "*",
        },
    )


def badge_error(error: Exception, request: str | None = None) -> Response:
    status, text = _status_and_text(error, request)
    return Response(
        body=text,
        status_code=status,
        headers={
            "Content-Type": TEXT,
            "Cache-Control": NO_CACHE,
            "Access-Control-Allow-Origin": "*",
        },
    )


def _status_and_text(error: Exception, request: str | None) -> tuple[int, str]:
    if isinstance(error, VigilError) and error.status_code < 500:
        return error.status_code, error.message
    # Anything unexpected is our bug (or a broken deployment): log it whole with the request
    # id, count it, and tell the client nothing more.
    logger.error("unhandled error (request %s)", request, exc_info=error)
    log_event("internal_error", request=request, error=type(error).__name__)
    metrics.count(metrics.INTERNAL_ERRORS)
    return 500, "internal error"
