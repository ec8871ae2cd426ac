"""The pings' front door: a Lambda function URL event in, Chalice's REST routing, a reply out.

Chalice only builds REST APIs, which cost $3.50 per million requests; a function URL costs
nothing beyond the Lambda invocation. It delivers API Gateway's payload format 2.0
(``rawPath``, ``rawQueryString``, ``requestContext.http``, ``cookies``), while Chalice routes
the REST proxy event (``resourcePath``, ``pathParameters``, ``multiValueQueryStringParameters``).
This module converts one into the other, so a ping through the function URL runs exactly the
code a ping through the REST API runs, and converts the reply back.

Only the ``/ping/...`` routes are reachable this way. The Management API, the badges and the
dashboard stay behind the REST API, where API Gateway's throttling and (if configured) a WAF
and a custom domain apply; anything else on the function URL gets a plain 404.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

PING_PREFIX = "/ping/"
NOT_FOUND_TEXT = "not found"
TEXT = "text/plain; charset=utf-8"
NO_CACHE = "max-age=0, no-cache, no-store, must-revalidate, private"

Event = dict[str, Any]


@dataclass(frozen=True)
class Route:
    """One route template, split once: ``/ping/{code}/{suffix}`` -> its segments."""

    template: str
    segments: tuple[str, ...]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        captured: dict[str, str] = {}
        for part, segment in zip(parts, self.segments, strict=True):
            if segment.startswith("{") and segment.endswith("}"):
                if not part:
                    return None  # API Gateway never binds an empty segment to a variable
                captured[segment[1:-1]] = part
            elif part != segment:
                return None
        return captured


class RouteTable:
    """The app's ping routes, matched the way API Gateway matches a REST resource path."""

    def __init__(self, templates: Iterable[str]) -> None:
        # Literal segments before variables, as API Gateway prefers /a/b over /a/{x}.
        self._routes = [
            Route(t, tuple(t.split("/"))) for t in sorted(templates) if t.startswith(PING_PREFIX)
        ]

    def resolve(self, path: str) -> tuple[str, dict[str, str]] | None:
        if path != "/" and path.endswith("/"):
            path = path[:-1]  # API Gateway drops one trailing slash before matching
        parts = path.split("/")
        for route in self._routes:
            captured = route.match(parts)
            if captured is not None:
                return route.template, captured
        return None


def to_rest_event(event: Mapping[str, Any], routes: RouteTable) -> Event | None:
    """The REST proxy event Chalice routes, or None when no ping route has this path."""
    path = str(event.get("rawPath") or "/")
    resolved = routes.resolve(path)
    if resolved is None:
        return None
    template, path_parameters = resolved
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    return {
        "resource": template,
        "path": path,
        "httpMethod": http.get("method", "GET"),
        "headers": _headers(event),
        "multiValueQueryStringParameters": _query(str(event.get("rawQueryString") or "")),
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": template,
            "httpMethod": http.get("method", "GET"),
            "path": path,
            "protocol": http.get("protocol", "HTTP/1.1"),
            "identity": {"sourceIp": http.get("sourceIp"), "userAgent": http.get("userAgent")},
            "domainName": context.get("domainName"),
            "domainPrefix": context.get("domainPrefix"),
            "requestId": context.get("requestId"),
            "requestTimeEpoch": context.get("timeEpoch"),
            "accountId": context.get("accountId"),
            "apiId": context.get("apiId"),
            # No "stage": a function URL serves from its root, and web.site_root must not
            # put a stage name into the URLs of a check created through it.
        },
        "body": event.get("body"),
        "isBase64Encoded": bool(event.get("isBase64Encoded", False)),
    }


def _headers(event: Mapping[str, Any]) -> dict[str, str]:
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    cookies = event.get("cookies")
    if cookies and "cookie" not in headers:
        headers["cookie"] = "; ".join(cookies)  # format 2.0 moves Cookie into its own list
    return headers


def _query(raw: str) -> dict[str, list[str]] | None:
    """Every value of every name, in order (``?tag=a&tag=b``); None without a query, as REST."""
    if not raw:
        return None
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return values or None


def to_url_response(response: Mapping[str, Any]) -> Event:
    """Chalice's REST reply in format 2.0: multi-value headers joined, cookies listed apart."""
    headers: dict[str, str] = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    cookies: list[str] = []
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if str(name).lower() == "set-cookie":
            cookies.extend(str(v) for v in values)
        else:
            headers[str(name)] = ", ".join(str(v) for v in values)
    reply: Event = {
        "statusCode": int(response["statusCode"]),
        "headers": headers,
        "body": response.get("body") or "",
        "isBase64Encoded": bool(response.get("isBase64Encoded", False)),
    }
    if cookies:
        reply["cookies"] = cookies
    return reply


def not_found(event: Mapping[str, Any]) -> Event:
    """Anything but a ping: Healthchecks' 404 text (an empty body for HEAD)."""
    method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "GET")
    return {
        "statusCode": 404,
        "headers": {"Content-Type": TEXT, "Cache-Control": NO_CACHE},
        "body": "" if method == "HEAD" else NOT_FOUND_TEXT,
        "isBase64Encoded": False,
    }
