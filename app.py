"""Vigil's Chalice app: the ping routes (REST and the function URL), the API, badge, dashboard
and channel blueprints, the sweeper and the notifier.

Handlers parse, call a use case and respond; everything else lives in ``chalicelib``.
Nothing here talks to AWS at import time.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from chalice.app import Chalice, Rate, Request, Response, SQSEvent

from chalicelib import channel_routes, function_url, metrics, notifier, service, web, wiring
from chalicelib.api_routes import routes as api_routes
from chalicelib.badge_routes import routes as badge_routes
from chalicelib.clock import utc_now
from chalicelib.dashboard import routes as dashboard_routes
from chalicelib.domain import Ping
from chalicelib.settings import notify_queue_name
from chalicelib.wiring import deps
from chalicelib.wiring import notifier as notifier_deps

app = Chalice(app_name="vigil")
app.log.setLevel(logging.INFO)
logging.getLogger("vigil").setLevel(logging.INFO)
app.register_blueprint(api_routes)
app.register_blueprint(badge_routes)
app.register_blueprint(dashboard_routes)
app.register_blueprint(channel_routes.routes)

PING_METHODS = ["GET", "POST", "HEAD"]


@app.middleware("http")
def flush_metrics(event: Any, get_response: Any) -> Any:
    """EMF lines at most once a flush interval per process, not one per ping (log cost)."""
    try:
        return get_response(event)
    finally:
        metrics.flush_if_due(metrics.flush_seconds(os.environ))


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


# The function URL gets its own function rather than the API handler: its public, unthrottled
# entry then runs under a role that can only record pings (no deletes, no due index), it can be
# capped with reserved concurrency without capping the Management API, and its errors, throttles
# and metrics are its own. Same zip and init, so a cold start costs the same as the API's.
@app.lambda_function(name="ping")
def ping_url(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function URL's handler: pings only, routed exactly as through the REST API."""
    rest_event = function_url.to_rest_event(event, PING_ROUTES)
    if rest_event is None:
        return function_url.not_found(event)
    return function_url.to_url_response(app(rest_event, context))


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: Any) -> None:
    # event.context, not app.lambda_context: Chalice sets the latter for HTTP only (traps.md §2).
    remaining_ms = getattr(event.context, "get_remaining_time_in_millis", None)
    time_left = None if remaining_ms is None else lambda: remaining_ms() / 1000
    service.sweep_invocation(deps(), utc_now, time.sleep, time_left=time_left)


# The queue's name is needed when chalice deploys or packages (it imports this module then),
# never at run time: tools/deploy.py sets VIGIL_NOTIFY_QUEUE per stage.
@app.on_sqs_message(queue=notify_queue_name(os.environ), batch_size=1, name="notify")
def notify(event: SQSEvent) -> None:
    """One message per invocation: a slow channel holds up nothing but its own delivery."""
    try:
        for record in event:
            notifier.handle_record(notifier_deps(), record.to_dict(), utc_now())
    finally:
        metrics.flush()


PING_ROUTES = function_url.RouteTable(app.routes)
# Lambda's init phase builds the DynamoDB client (a no-op outside Lambda: tests, local stack).
wiring.init_lambda(os.environ)
