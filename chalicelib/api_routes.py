"""Routes of the Management API (``/api/v1|v2|v3/...``); the badges are in ``badge_routes``.

Each endpoint answers CORS preflights and unsupported methods itself, as Healthchecks'
``cors`` decorator does (204 / 405), then parses (``web``), calls ``chalicelib.management``
and renders. A new endpoint is one function here plus its use case in ``management``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib import management, spec, web
from chalicelib.clock import utc_now
from chalicelib.errors import MethodNotAllowed
from chalicelib.management import authorize
from chalicelib.store import KeyGrant
from chalicelib.wiring import deps

routes = Blueprint(__name__)

EVERY_METHOD = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]
ANY_CONTENT = ["*/*"]
Handler = Callable[..., Response]


def endpoint(path: str, allowed: tuple[str, ...]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        def view(**params: str) -> Response:
            request = routes.current_request
            here = _allowed_for(allowed, params.get("code"))
            methods = ", ".join(here)
            if request.method == "OPTIONS":
                return web.preflight(methods)
            try:
                if request.method not in here:
                    raise MethodNotAllowed()
                return handler(request, **params)
            except Exception as error:
                return web.api_error(error, methods, web.request_id(request.context))

        view.__name__ = handler.__name__
        routes.route(path, methods=EVERY_METHOD, content_types=ANY_CONTENT)(view)
        return handler

    return register


def _allowed_for(allowed: tuple[str, ...], code: str | None) -> tuple[str, ...]:
    """A unique key is read-only: Healthchecks routes it to GET-only views (else 405)."""
    if code is not None and management.is_unique_key(code):
        return tuple(method for method in allowed if method == "GET")
    return allowed


def _version(version: str) -> int:
    return web.api_version(version)


def _grant(request: Request, *, write: bool, body: dict[str, Any] | None = None) -> KeyGrant:
    """``X-Api-Key``, or for POST only ``api_key`` in the JSON body."""
    key = request.headers.get("x-api-key")
    if key is None and body is not None and isinstance(body.get("api_key"), str):
        key = body["api_key"]
    return authorize(deps(), key, write=write)


def _view(request: Request, version: int, grant: KeyGrant) -> management.View:
    built = deps()
    return management.View(
        version, grant.role == "ro", management.channel(built)["id"], built.settings.ping_endpoint
    )


def _site(request: Request) -> str:
    return web.site_root(request.headers, request.context, deps().settings.site_root)


def _body(request: Request) -> dict[str, Any]:
    return spec.parse_json_object(web.body_bytes(request.raw_body))


def _query(request: Request) -> dict[str, str]:
    return dict(request.query_params or {})


@endpoint("/api/{version}/checks", ("GET", "POST"))
def checks(request: Request, version: str) -> Response:
    number = _version(version)
    if request.method == "GET":
        grant = _grant(request, write=False)
        params = request.query_params
        tags = params.getlist("tag") if params and "tag" in params else []
        slug = params.get("slug") if params else None
        found = management.list_checks(deps(), grant, tags, slug)
        view, now = _view(request, number, grant), utc_now()
        return web.api_json({"checks": [view.check(c, now) for c in found]}, methods="GET, POST")
    body = _body(request)
    grant = _grant(request, write=True, body=body)
    check_spec, now = spec.parse_check_spec(body), utc_now()
    check, created = management.upsert_check(deps(), grant, check_spec, now, _site(request), number)
    doc = _view(request, number, grant).check(check, now)
    return web.api_json(doc, status=201 if created else 200, methods="GET, POST")


@endpoint("/api/{version}/checks/{code}", ("GET", "POST", "DELETE"))
def check(request: Request, version: str, code: str) -> Response:
    number, methods = _version(version), "GET, POST, DELETE"
    if request.method == "GET":
        grant = _grant(request, write=False)
        found = management.find_check(deps(), grant, code)
        return web.api_json(_view(request, number, grant).check(found, utc_now()), methods=methods)
    if request.method == "DELETE":
        grant = _grant(request, write=True)
        gone = management.delete_check(deps(), grant, code)
        return web.api_json(_view(request, number, grant).check(gone, utc_now()), methods=methods)
    body = _body(request)
    grant = _grant(request, write=True, body=body)
    updated = management.update_check(deps(), grant, code, spec.parse_check_spec(body), number)
    return web.api_json(_view(request, number, grant).check(updated, utc_now()), methods=methods)


@endpoint("/api/{version}/checks/{code}/pause", ("POST",))
def pause(request: Request, version: str, code: str) -> Response:
    return _pause_or_resume(request, version, code, management.pause_check)


@endpoint("/api/{version}/checks/{code}/resume", ("POST",))
def resume(request: Request, version: str, code: str) -> Response:
    return _pause_or_resume(request, version, code, management.resume_check)


def _pause_or_resume(request: Request, version: str, code: str, change: Any) -> Response:
    number, body = _version(version), _body(request)
    grant = _grant(request, write=True, body=body)
    now = utc_now()
    changed = change(deps(), grant, code, now)
    return web.api_json(_view(request, number, grant).check(changed, now), methods="POST")


@endpoint("/api/{version}/checks/{code}/pings", ("GET",))
def pings(request: Request, version: str, code: str) -> Response:
    _version(version)
    grant = _grant(request, write=True)
    base = f"{_site(request)}/api/{version}"
    return web.api_json({"pings": management.list_pings(deps(), grant, code, base)}, methods="GET")


@endpoint("/api/{version}/checks/{code}/pings/{number}/body", ("GET",))
def ping_body(request: Request, version: str, code: str, number: str) -> Response:
    _version(version)
    grant = _grant(request, write=True)
    body = management.ping_body(deps(), grant, code, web.ping_number(number))
    return web.api_body(body, request.headers.get("accept"))


@endpoint("/api/{version}/checks/{code}/flips", ("GET",))
def flips(request: Request, version: str, code: str) -> Response:
    _version(version)
    grant = _grant(request, write=False)
    found = management.list_flips(deps(), grant, code, _query(request), utc_now())
    return web.api_json({"flips": found}, methods="GET")


@endpoint("/api/{version}/badges", ("GET",))
def badge_list(request: Request, version: str) -> Response:
    _version(version)
    grant = _grant(request, write=False)
    found = management.badge_urls(deps(), grant, _site(request))
    return web.api_json({"badges": found}, methods="GET")


@endpoint("/api/{version}/status", ("GET",))
def status(request: Request, version: str) -> Response:
    _version(version)
    deps().store.ping()
    return web.api_text(b"OK", methods="GET")
