"""The dashboard: one HTML page, its ES modules and stylesheet, served by the app itself.

The files live in ``chalicelib/ui/`` so ``chalice package`` ships them with the code; there is
no build step. The page sits at the API's root (``/`` locally, the stage URL deployed) and loads
everything else by relative URL from ``ui/``, so it works under a stage prefix unchanged. It
talks to the Management API from the browser with the key the user gives it.

Every file is sent as text (the app registers no binary types, traps.md §1), with a strict
Content-Security-Policy (no inline script or style, nothing from elsewhere), nosniff, no framing,
and an ETag so a reload costs a 304.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from chalice.app import Blueprint, Request, Response

Headers = dict[str, str | list[str]]

UI_DIR = Path(__file__).resolve().parent / "ui"
INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Scripts, styles and images only from the app itself; fetch only to the app (the API). Badges
# are images of the same origin. No inline anything, no plugins, no framing, no form posts.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS: Headers = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (a 304 is cheap), so a deploy shows up on the next load.
    "Cache-Control": "no-cache",
}

routes = Blueprint(__name__)


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    etag: str


@routes.route("/", methods=["GET", "HEAD"])
def index() -> Response:
    request = routes.current_request
    redirect = slash_redirect(str(request.context.get("path") or "/"))
    return redirect or serve(request, assets()[INDEX])


def slash_redirect(path: str) -> Response | None:
    """Deployed, the page's URL is the stage's (``/api``); without its final slash, the
    relative ``ui/app.js`` would resolve outside the stage, so add it first."""
    if path.endswith("/"):
        return None
    return Response(body="", status_code=301, headers={"Location": f"{path}/"})


@routes.route("/ui/{name}", methods=["GET", "HEAD"])
def asset(name: str) -> Response:
    # The page itself only at the root: from ui/ its relative URLs would point elsewhere.
    found = None if name == INDEX else assets().get(name)
    return serve(routes.current_request, found)


def serve(request: Request, found: Asset | None) -> Response:
    if found is None:
        return Response(
            body="not found",
            status_code=404,
            headers={"Content-Type": "text/plain; charset=utf-8", **SECURITY_HEADERS},
        )
    headers: Headers = {"Content-Type": found.content_type, "ETag": found.etag, **SECURITY_HEADERS}
    if found.etag in _etags(request.headers.get("if-none-match", "")):
        return Response(body="", status_code=304, headers=headers)
    body = "" if request.method == "HEAD" else found.body
    return Response(body=body, status_code=200, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


@cache
def assets() -> dict[str, Asset]:
    """Every servable file by name, read once per process (on first request, not at import)."""
    found = {}
    for path in sorted(UI_DIR.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_text(encoding="utf-8")
        digest = hashlib.sha256(body.encode()).hexdigest()[:20]
        found[path.name] = Asset(body, content_type, f'"{digest}"')
    return found
