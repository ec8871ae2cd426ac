"""Routes of the public badges: a project's (``/badge/...``) and a check's (``/b/...``).

No API key: a badge URL carries its own secret (a signed project key, or a check's badge
key). Anyone may embed one, so every answer allows any origin.
"""

from __future__ import annotations

from collections.abc import Callable

from chalice.app import Blueprint, Response

from chalicelib import management, web
from chalicelib.clock import utc_now
from chalicelib.wiring import deps

routes = Blueprint(__name__)

BADGE_METHODS = ["GET", "HEAD", "OPTIONS"]


@routes.route("/badge/{badge_key}/{signed}", methods=BADGE_METHODS)
def project_badge_all(badge_key: str, signed: str) -> Response:
    """``/badge/<key>/<sig>.<fmt>``: every check of the project."""
    return _badge(lambda: _project_badge(badge_key, signed, None))


@routes.route("/badge/{badge_key}/{signed}/{tagged}", methods=BADGE_METHODS)
def project_badge_tag(badge_key: str, signed: str, tagged: str) -> Response:
    """``/badge/<key>/<sig>/<tag>.<fmt>``: the project's checks with one tag."""
    return _badge(lambda: _project_badge(badge_key, signed, tagged))


@routes.route("/b/{states}/{keyed}", methods=BADGE_METHODS)
def check_badge(states: str, keyed: str) -> Response:
    """``/b/<2|3>/<check badge key>.<fmt>``."""

    def render() -> tuple[str, str]:
        parts = web.split_badge_name(keyed)
        return management.check_badge(deps(), parts[0], states, parts[1], utc_now())

    return _badge(render)


def _project_badge(badge_key: str, signed: str, tagged: str | None) -> tuple[str, str]:
    if tagged is None:
        sig, fmt = web.split_badge_name(signed)
        tag = "*"
    else:
        sig = signed
        tag, fmt = web.split_badge_name(tagged)
    return management.project_badge(deps(), badge_key, sig, tag, fmt, utc_now())


def _badge(render: Callable[[], tuple[str, str]]) -> Response:
    if routes.current_request.method == "OPTIONS":
        return web.badge_preflight()
    try:
        content_type, body = render()
    except Exception as error:
        return web.badge_error(error, web.request_id(routes.current_request.context))
    return web.badge_response(content_type, body)
