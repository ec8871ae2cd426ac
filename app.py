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

from chalicelib import channel_routes, metrics, notifier, pings, sweeps, wiring
from chalicelib.api_routes import routes as api_routes
from chalicelib.badge_routes import routes as badge_routes
from chalicelib.clock import utc_now
from chalicelib.dashboard import routes as dashboard_routes
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


@app.middleware("http")
def flush_metrics(event: Any, get_response: Any) -> Any:
    """EMF lines at most once a flush interval per process, not one per ping (log cost)."""
    try:
        return get_response(event)
    finally:
        metrics.flush_if_due(metrics.flush_seconds(os.environ))


# The REST ping routes; chalicelib.pings answers them, and the function URL's pings too.
@app.route(pings.ROUTE_ONE, methods=pings.METHODS, content_types=pings.ANY_CONTENT)
def ping(code: str) -> Response:
    return pings.respond(_request(), code, None, None)


@app.route(pings.ROUTE_TWO, methods=pings.METHODS, content_types=pings.ANY_CONTENT)
def ping_two(code: str, suffix: str) -> Response:
    return pings.respond(_request(), code, suffix, None)


@app.route(pings.ROUTE_THREE, methods=pings.METHODS, content_types=pings.ANY_CONTENT)
def ping_three(code: str, suffix: str, last: str) -> Response:
    return pings.respond(_request(), code, suffix, last)


def _request() -> Request:
    request = app.current_request
    assert request is not None, "only called while handling a request"
    return request


# The function URL gets its own function rather than the API handler: its public, unthrottled
# entry then runs under a role that can only record pings (no deletes, no due index), it can be
# capped with reserved concurrency without capping the Management API, and its errors, throttles
# and metrics are its own. In Lambda its Handler is chalicelib.ping_function.handler (set by
# tools/template.py), which answers the same pings without importing this module: a smaller
# cold start. This definition gives chalice the function to package, and serves it locally.
@app.lambda_function(name="ping")
def ping_url(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The function URL's handler: pings only, answered exactly as through the REST API."""
    from chalicelib import ping_function

    return ping_function.handler(event, context)


@app.schedule(Rate(1, unit=Rate.MINUTES), name="sweep")
def sweep(event: Any) -> None:
    # event.context, not app.lambda_context: Chalice sets the latter for HTTP only (traps.md §2).
    remaining_ms = getattr(event.context, "get_remaining_time_in_millis", None)
    time_left = None if remaining_ms is None else lambda: remaining_ms() / 1000
    sweeps.sweep_invocation(deps(), utc_now, time.sleep, time_left=time_left)


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


# Lambda's init phase builds the DynamoDB client (a no-op outside Lambda: tests, local stack).
wiring.init_lambda(os.environ)
