"""The dashboard: one HTML page, its ES modules and stylesheet, served by the app itself.

The files live in ``chalicelib/ui/`` so ``chalice package`` ships them with the code; there is
no build step. The page sits at the API's root (``/`` locally, the stage URL deployed) and loads
everything else by relative URL from ``ui/``, so it works under a stage prefix unchanged. It
talks to the Management API from the browser with the key the user gives it.

Caching: the page links its files under ``ui/<version>/``, where the version is a hash of every
file's content, and the modules import each other by ``./name.js``, so they stay under it too.
Those URLs never change content, so a browser keeps them a year without asking again; a deploy
that changes any file changes the version. The page itself is always revalidated (a 304 when
unchanged), so it never points at files older than the deploy. Every reply carries a strong
ETag (a content hash) and answers a matching If-None-Match with 304.

Every file is sent as text (the app registers no binary types, traps.md §1), with a strict
Content-Security-Policy (no inline script or style, nothing from elsewhere), nosniff and no
framing. API Gateway compresses replies of 1 KB or more for clients that accept gzip, hence
``Vary: Accept-Encoding`` for caches on the way.
"""

from __future__ import annotations

import hashlib
import re
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
}
# Ask every time (a 304 is cheap): the page, so a deploy shows up on the next load, and files
# asked for by another version's URL or none (a tab opened before a deploy).
REVALIDATE = "no-cache"
# A versioned file's URL names its content: keep it, and don't even revalidate on reload.
IMMUTABLE = "public, max-age=31536000, immutable"
VERSION_LENGTH = 16  # hex digits of the content hash in ``ui/<version>/``
# The page's own links to its files (``href="ui/style.css"``, ``src="ui/app.js"``).
_PAGE_LINK = re.compile(r'\b(href|src)="ui/')

routes = Blueprint(__name__)


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str
    etag: str


@dataclass(frozen=True)
class Site:
    files: dict[str, Asset]  # by name, the page itself excluded
    version: str
    page: Asset  # index.html, its links pointing under ``ui/<version>/``


@routes.route("/", methods=["GET", "HEAD"])
def index() -> Response:
    request = routes.current_request
    redirect = slash_redirect(str(request.context.get("path") or "/"))
    return redirect or serve(request, site().page, REVALIDATE)


def slash_redirect(path: str) -> Response | None:
    """Deployed, the page's URL is the stage's (``/api``); without its final slash, the
    relative ``ui/app.js`` would resolve outside the stage, so add it first."""
    if path.endswith("/"):
        return None
    return Response(body="", status_code=301, headers={"Location": f"{path}/"})


# Both routes name their first segment alike: API Gateway refuses sibling path variables with
# different names (traps.md section 1).
@routes.route("/ui/{segment}", methods=["GET", "HEAD"])
def asset(segment: str) -> Response:
    """A file by its bare name, as pages of releases before versioned URLs asked for it."""
    return serve(routes.current_request, site().files.get(segment), REVALIDATE)


@routes.route("/ui/{segment}/{name}", methods=["GET", "HEAD"])
def versioned_asset(segment: str, name: str) -> Response:
    """``ui/<version>/<name>``: kept for a year when the version is this deploy's. Another
    version's URL (a page loaded before a deploy, or an instance not yet replaced) still gets
    today's file, which is all there is, but only for this once."""
    current = site()
    cache_control = IMMUTABLE if segment == current.version else REVALIDATE
    return serve(routes.current_request, current.files.get(name), cache_control)


def serve(request: Request, found: Asset | None, cache_control: str) -> Response:
    if found is None:
        return Response(
            body="not found",
            status_code=404,
            headers={
                "Content-Type": "text/plain; charset=utf-8",
                "Cache-Control": REVALIDATE,
                **SECURITY_HEADERS,
            },
        )
    headers: Headers = {
        "Content-Type": found.content_type,
        "ETag": found.etag,
        "Cache-Control": cache_control,
        "Vary": "Accept-Encoding",
        **SECURITY_HEADERS,
    }
    if matches(request.headers.get("if-none-match", ""), found.etag):
        return Response(body="", status_code=304, headers=headers)
    body = "" if request.method == "HEAD" else found.body
    return Response(body=body, status_code=200, headers=headers)


def matches(if_none_match: str, etag: str) -> bool:
    """If-None-Match's weak comparison (RFC 9110 section 13.1.2): ``W/`` is ignored, so a tag a
    cache or proxy weakened (as some do when they compress) still earns its 304; ``*`` is any."""
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag.removeprefix("W/") in tags


@cache
def site() -> Site:
    """Every servable file, read once per process (on first request, not at import)."""
    found: dict[str, Asset] = {}
    for path in sorted(UI_DIR.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is not None and path.is_file():
            found[path.name] = _asset(path.read_text(encoding="utf-8"), content_type)
    page = found.pop(INDEX)
    version = _version(found)
    linked = _PAGE_LINK.sub(rf'\1="ui/{version}/', page.body)
    return Site(files=found, version=version, page=_asset(linked, page.content_type))


def _asset(body: str, content_type: str) -> Asset:
    digest = hashlib.sha256(body.encode()).hexdigest()[:20]
    return Asset(body, content_type, f'"{digest}"')


def _version(files: dict[str, Asset]) -> str:
    """One hash over every file's name and content: any change to any file changes it."""
    listing = "\n".join(f"{name} {asset.etag}" for name, asset in sorted(files.items()))
    return hashlib.sha256(listing.encode()).hexdigest()[:VERSION_LENGTH]
