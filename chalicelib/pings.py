"""The ping routes' one handler, shared by both doors: Chalice's REST routes in app.py and the
function URL's lightweight entry (``ping_function``), so the two cannot answer differently.

It takes Chalice's ``Request`` (both doors build one from the REST proxy event) and returns
Chalice's ``Response``; ``chalice.app`` alone costs a cold start about 2 ms, the ``Chalice``
app and its blueprints much more, and this module needs neither.
"""

from __future__ import annotations

from chalice.app import Request, Response

from chalicelib import service, web
from chalicelib.clock import utc_now
from chalicelib.domain import Ping
from chalicelib.wiring import deps

# One route per depth: API Gateway cannot hold sibling variables with different names, so
# the handler tells /ping/<uuid>/<action> from /ping/<ping_key>/<slug> (traps.md §1).
ROUTE_ONE = "/ping/{code}"
ROUTE_TWO = "/ping/{code}/{suffix}"
ROUTE_THREE = "/ping/{code}/{suffix}/{last}"
ROUTES = (ROUTE_ONE, ROUTE_TWO, ROUTE_THREE)
METHODS = ["GET", "POST", "HEAD"]
# Jobs ping with any content type or none (curl -d sends form-urlencoded).
ANY_CONTENT = ["*/*"]


def respond(request: Request, code: str, suffix: str | None, last: str | None) -> Response:
    """Parse, record and answer one ping; errors answered as Healthchecks answers them."""
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
