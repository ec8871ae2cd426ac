"""Vigil's Chalice app: the ping routes, the API, badge and dashboard blueprints, the sweeper.

Handlers parse, call a use case and respond; everything else lives in ``chalicelib``.
Nothing here talks to AWS at import time.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from chalice.app import Chalice, Rate, Request, Response

from chalicelib import metrics, service, web
from chalicelib.api_routes import routes as api_routes
from chalicelib.badge_routes import routes as badge_routes
from chalicelib.clock import utc_now
from chalicelib.dashboard import routes as dashboard_routes
from chalicelib.domain import Ping
from chalicelib.wiring import deps

app = Chalice(app_name="vigil")
app.log.setLevel(logging.INFO)
logging.getLogger("vigil").setLevel(logging.INFO)
app.register_blueprint(api_routes)
app.register_blueprint(badge_routes)
app.register_blueprint(dashboard_routes)

PING_METHODS = ["GET", "POST", "HEAD"]


@app.middleware("http")
def flush_metrics(event: Any, get_response: Any) -> Any:
    """One EMF flush per request: the metrics it recorded reach CloudWatch via stdout."""
    try:
        return get_response(event)
    finally:
        metrics.flush()


# Jobs ping with any content type or none (curl -d sends form-urlencoded).
ANY_CONTENT = ["*/*"]


# One route per depth: API Gateway cannot hold sibling variables with different names, so
# the handler tells /ping/<uuid>/<action> from /ping/<ping_key>/<slug> (traps.md §1).
@app.route("/ping/{code}", methods=PING_METHODS, content_types=ANY_CONTENT)
def ping(code: str) -> Response:
    return _ping(code, None, None)


@app.route("/ping/{code}/{suffix}", methods=PING_METHODS, content_types=ANY_CONTENT)
def ping_two(code: str, suffix: str) -> Response:
    return _ping(code, suffix, None)


@app.route("/ping/{code}/{suffix}/{last}", methods=PING_METHODS, content_types=ANY_CONTENT)
def ping_three(code: str, suffix: str, last: str) -> Response:
    return _ping(code, suffix, last)


def _ping(code: str, suffix: str | None, last: str | None) -> Response:
    request = _request()
    try:
        target = web.parse_ping_path(code, suffix, last)
        settings = deps().settings
        ping = web.ping_from_request(
            target,
            request.method,
            request.headers,
            request.query_params or {},
            request.context,
            web.body_bytes(request.raw_body),
            settings.ping_body_limit,
        )
        created = _record(request, target, ping)
    except Exception as error:
        return web.ping_error(error, request.method, web.request_id(request.context))
    if created:
        return web.ping_ok(request.method, settings.ping_body_limit, 201, "Created")
    return web.ping_ok(request.method, settings.ping_body_limit)


def _record(request: Request, target: web.PingTarget, ping: Ping) -> bool:
    """Record the ping; True if ``?create=1`` provisioned a new check for it."""
    now = utc_now()
    if target.check_uuid is not None:
        service.record_ping(deps(), target.check_uuid, ping, now)
        return False
    assert target.ping_key is not None and target.slug is not None
    create_site = None
    if request.query_params and request.query_params.get("create") == "1":
        create_site = web.site_root(request.headers, request.context, deps().settings.site_root)
    _, created = service.record_slug_ping(
        deps(), target.ping_key, target.slug, ping, now, create_site
    )
    return created


def _request() -> Request:
    request = app.current_request
    assert request is not None, "only called while handling a request"
    return request


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: Any) -> None:
    # event.context, not app.lambda_context: Chalice sets the latter for HTTP only (traps.md §2).
    remaining_ms = getattr(event.context, "get_remaining_time_in_millis", None)
    time_left = None if remaining_ms is None else lambda: remaining_ms() / 1000
    service.sweep_invocation(deps(), utc_now, time.sleep, time_left=time_left)
