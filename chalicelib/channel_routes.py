"""Routes of ``/api/v<N>/channels``: Healthchecks' listing, and Vigil's create and delete.

The listing needs a read-write key, as in Healthchecks; so do writes. Errors map to HTTP in
``web.api_error``, like every other API route (the ``endpoint`` wrapper of api_routes).
"""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import Blueprint, Request, Response

from chalicelib import channel_service, web
from chalicelib.api_routes import EVERY_METHOD, _body, _grant, _version
from chalicelib.clock import utc_now
from chalicelib.errors import MethodNotAllowed
from chalicelib.wiring import deps

routes = Blueprint(__name__)
ANY_CONTENT = ["*/*"]


@routes.route("/api/{version}/channels", methods=EVERY_METHOD, content_types=ANY_CONTENT)
def channels(version: str) -> Response:
    request = routes.current_request
    return _answer(request, "GET, POST", lambda: _collection(request, version))


@routes.route(
    "/api/{version}/channels/{channel_id}", methods=EVERY_METHOD, content_types=ANY_CONTENT
)
def channel(version: str, channel_id: str) -> Response:
    request = routes.current_request
    return _answer(request, "DELETE", lambda: _delete(request, version, channel_id))


def _collection(request: Request, version: str) -> Response:
    _version(version)
    if request.method == "GET":
        grant = _grant(request, write=True)
        listed = channel_service.list_channels(deps(), grant.project)
        return web.api_json({"channels": listed}, methods="GET, POST")
    if request.method != "POST":
        raise MethodNotAllowed()
    body = _body(request)
    grant = _grant(request, write=True, body=body)
    created = channel_service.create_channel(deps(), grant.project, body, utc_now())
    return web.api_json(created, 201, methods="GET, POST")


def _delete(request: Request, version: str, channel_id: str) -> Response:
    _version(version)
    if request.method != "DELETE":
        raise MethodNotAllowed()
    grant = _grant(request, write=True)
    channel_service.delete_channel(deps(), grant.project, channel_id)
    return web.api_json({"id": channel_id, "deleted": True}, methods="DELETE")


def _answer(request: Request, methods: str, handle: Callable[[], Response]) -> Response:
    if request.method == "OPTIONS":
        return web.preflight(methods)
    try:
        return handle()
    except Exception as error:
        return web.api_error(error, methods)
