"""Vigil's Chalice app: routes and the sweeper schedule. Parse, call a use case, respond.

Everything else lives in ``chalicelib``. Nothing here talks to AWS at import time.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chalice.app import Chalice, Rate, Request, Response

from chalicelib import service, spec, web
from chalicelib.check_json import check_to_dict
from chalicelib.clock import utc_now
from chalicelib.errors import NotFound
from chalicelib.wiring import deps

app = Chalice(app_name="vigil")
app.log.setLevel(logging.INFO)
logging.getLogger("vigil").setLevel(logging.INFO)

PING_METHODS = ["GET", "POST", "HEAD"]
# Jobs ping with any content type or none (curl -d sends form-urlencoded).
ANY_CONTENT = ["*/*"]


@app.route("/ping/{code}", methods=PING_METHODS, content_types=ANY_CONTENT)
def ping(code: str) -> Response:
    return _ping(code, None)


@app.route("/ping/{code}/{suffix}", methods=PING_METHODS, content_types=ANY_CONTENT)
def ping_with_suffix(code: str, suffix: str) -> Response:
    return _ping(code, suffix)


def _ping(code: str, suffix: str | None) -> Response:
    request = _request()
    try:
        target = web.parse_ping_path(code, suffix)
        limit = deps().settings.ping_body_limit
        ping = web.ping_from_request(
            target,
            request.method,
            request.headers,
            request.query_params or {},
            request.context,
            web.body_bytes(request.raw_body),
            limit,
        )
        service.record_ping(deps(), target.check_uuid, ping, utc_now())
    except Exception as error:
        return web.ping_error(error, request.method)
    return web.ping_ok(request.method, limit)


@app.route("/api/v3/checks", methods=["POST"], content_types=ANY_CONTENT)
def create_check() -> Response:
    request = _request()
    try:
        body = spec.parse_json_object(web.body_bytes(request.raw_body))
        key = request.headers.get("x-api-key") or _body_key(body)
        grant = service.authorize(deps(), key, write=True)
        check_spec = spec.parse_check_spec(body)
        now = utc_now()
        root = web.site_root(request.headers, request.context, deps().settings.site_root)
        check = service.create_check(deps(), grant, check_spec, now, root)
    except Exception as error:
        return web.api_error(error)
    return web.api_json(check_to_dict(check, now), status=201)


@app.route("/api/v3/checks/{code}", methods=["GET"])
def get_check(code: str) -> Response:
    request = _request()
    try:
        grant = service.authorize(deps(), request.headers.get("x-api-key"), write=False)
        if not web.UUID_PATTERN.match(code):
            raise NotFound()
        check = service.get_check(deps(), grant, code)
    except Exception as error:
        return web.api_error(error)
    return web.api_json(check_to_dict(check, utc_now(), readonly=grant.role == "ro"))


def _request() -> Request:
    request = app.current_request
    assert request is not None, "only called while handling a request"
    return request


def _body_key(body: dict[str, Any]) -> str | None:
    key = body.get("api_key")
    return key if isinstance(key, str) else None


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: Any) -> None:
    service.sweep_invocation(deps(), utc_now, time.sleep)
