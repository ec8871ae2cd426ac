"""Routes of the Management API (``/api/v1|v2|v3/...``) and of the badges.

Each endpoint answers CORS preflights and unsupported methods itself, as Healthchecks'
``cors`` decorator does (204 / 405), then parses, calls ``chalicelib.api`` and renders.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice.app import Blueprint, Request, Response

from chalicelib import api, spec, web
from chalicelib.clock import utc_now
from chalicelib.errors import MethodNotAllowed, NotFound
from chalicelib.service import authorize
from chalicelib.store import KeyGrant
from chalicelib.wiring import deps

routes = Blueprint(__name__)

EVERY_METHOD = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS"]
ANY_CONTENT = ["*/*"]
VERSIONS = {"v1": 1, "v2": 2, "v3": 3}
Handler = Callable[..., Response]


def endpoint(path: str, allowed: tuple[str, ...]) -> Callable[[Handler], Handler]:
    methods = ", ".join(allowed)

    def register(handler: Handler) -> Handler:
        def view(**params: str) -> Response:
            request = routes.current_request
            if request.method == "OPTIONS":
                return web.preflight(methods)
            try:
                if request.method not in allowed:
                    raise MethodNotAllowed()
                return handler(request, **params)
            except Exception as error:
                return web.api_error(error, methods)

        view.__name__ = handler.__name__
        routes.route(path, methods=EVERY_METHOD, content_types=ANY_CONTENT)(view)
        return handler

    return register


def _version(version: str) -> int:
    if version not in VERSIONS:
        raise NotFound()
    return VERSIONS[version]


def _grant(request: Request, *, write: bool, body: dict[str, Any] | None = None) -> KeyGrant:
    """``X-Api-Key``, or for POST only ``api_key`` in the JSON body."""
    key = request.headers.get("x-api-key")
    if key is None and body is not None and isinstance(body.get("api_key"), str):
        key = body["api_key"]
    return authorize(deps(), key, write=write)


def _view(request: Request, version: int, grant: KeyGrant) -> api.View:
    return api.View(version, grant.role == "ro", api.channel(deps())["id"])


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
        found = api.list_checks(deps(), grant, tags, slug)
        view, now = _view(request, number, grant), utc_now()
        return web.api_json({"checks": [view.check(c, now) for c in found]}, methods="GET, POST")
    body = _body(request)
    grant = _grant(request, write=True, body=body)
    check_spec, now = spec.parse_check_spec(body), utc_now()
    check, created = api.upsert_check(deps(), grant, check_spec, now, _site(request), number)
    doc = _view(request, number, grant).check(check, now)
    return web.api_json(doc, status=201 if created else 200, methods="GET, POST")


@endpoint("/api/{version}/checks/{code}", ("GET", "POST", "DELETE"))
def check(request: Request, version: str, code: str) -> Response:
    number, methods = _version(version), "GET, POST, DELETE"
    if request.method == "GET":
        grant = _grant(request, write=False)
        found = api.find_check(deps(), grant, code)
        return web.api_json(_view(request, number, grant).check(found, utc_now()), methods=methods)
    if request.method == "DELETE":
        grant = _grant(request, write=True)
        gone = api.delete_check(deps(), grant, code)
        return web.api_json(_view(request, number, grant).check(gone, utc_now()), methods=methods)
    body = _body(request)
    grant = _grant(request, write=True, body=body)
    updated = api.update_check(deps(), grant, code, spec.parse_check_spec(body), number)
    return web.api_json(_view(request, number, grant).check(updated, utc_now()), methods=methods)


@endpoint("/api/{version}/checks/{code}/pause", ("POST",))
def pause(request: Request, version: str, code: str) -> Response:
    return _pause_or_resume(request, version, code, api.pause_check)


@endpoint("/api/{version}/checks/{code}/resume", ("POST",))
def resume(request: Request, version: str, code: str) -> Response:
    return _pause_or_resume(request, version, code, api.resume_check)


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
    return web.api_json({"pings": api.list_pings(deps(), grant, code, base)}, methods="GET")


@endpoint("/api/{version}/checks/{code}/pings/{number}/body", ("GET",))
def ping_body(request: Request, version: str, code: str, number: str) -> Response:
    _version(version)
    grant = _grant(request, write=True)
    if not number.isdigit():
        raise NotFound()
    body = api.ping_body(deps(), grant, code, int(number))
    return web.api_text(body, methods="GET")


@endpoint("/api/{version}/checks/{code}/flips", ("GET",))
def flips(request: Request, version: str, code: str) -> Response:
    _version(version)
    grant = _grant(request, write=False)
    found = api.list_flips(deps(), grant, code, _query(request), utc_now())
    return web.api_json(found, methods="GET")


@endpoint("/api/{version}/badges", ("GET",))
def badge_list(request: Request, version: str) -> Response:
    _version(version)
    grant = _grant(request, write=False)
    return web.api_json({"badges": api.badge_urls(deps(), grant, _site(request))}, methods="GET")


@endpoint("/api/{version}/status", ("GET",))
def status(request: Request, version: str) -> Response:
    _version(version)
    deps().store.ping()
    return web.api_text(b"OK", methods="GET")


@routes.route("/badge/{badge_key}/{signed}", methods=["GET", "HEAD"])
def project_badge_all(badge_key: str, signed: str) -> Response:
    """``/badge/<key>/<sig>.<fmt>``: every check of the project."""
    return _badge(lambda: _project_badge(badge_key, signed, None))


@routes.route("/badge/{badge_key}/{signed}/{tagged}", methods=["GET", "HEAD"])
def project_badge_tag(badge_key: str, signed: str, tagged: str) -> Response:
    """``/badge/<key>/<sig>/<tag>.<fmt>``: the project's checks with one tag."""
    return _badge(lambda: _project_badge(badge_key, signed, tagged))


@routes.route("/b/{states}/{keyed}", methods=["GET", "HEAD"])
def check_badge(states: str, keyed: str) -> Response:
    """``/b/<2|3>/<check badge key>.<fmt>``."""

    def render() -> tuple[str, str]:
        parts = web.split_badge_name(keyed)
        return api.check_badge(deps(), parts[0], states, parts[1], utc_now())

    return _badge(render)


def _project_badge(badge_key: str, signed: str, tagged: str | None) -> tuple[str, str]:
    if tagged is None:
        sig, fmt = web.split_badge_name(signed)
        tag = "*"
    else:
        sig = signed
        tag, fmt = web.split_badge_name(tagged)
    return api.project_badge(deps(), badge_key, sig, tag, fmt, utc_now())


def _badge(render: Callable[[], tuple[str, str]]) -> Response:
    try:
        content_type, body = render()
    except Exception as error:
        return web.badge_error(error)
    return web.badge_response(content_type, body)
