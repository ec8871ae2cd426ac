"""The dashboard's files as the app serves them: types, security headers, caching, and what the
page's code may never do (inline script or style, HTML from data). The browser tests drive it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import dashboard
from tests.conftest import ROOT

UI = ROOT / "chalicelib" / "ui"


@pytest.fixture
def client() -> Iterator[Any]:
    from chalice.test import Client

    from app import app

    with Client(app, project_dir=str(ROOT)) as test_client:
        yield test_client


def assert_locked_down(headers: dict[str, str]) -> None:
    csp = headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"


def test_the_api_root_serves_the_page_with_a_strict_policy(client: Any) -> None:
    reply = client.http.get("/")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert_locked_down(reply.headers)
    page = reply.body.decode()
    assert '<script type="module" src="ui/app.js"></script>' in page
    assert '<label for="api-key">API key</label>' in page
    assert ">Sign in</button>" in page


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.js", "text/javascript; charset=utf-8"),
        ("cron.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ],
)
def test_assets_are_served_as_text_with_their_type(
    client: Any, name: str, content_type: str
) -> None:
    reply = client.http.get(f"/ui/{name}")
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == content_type
    assert reply.body == (UI / name).read_bytes()
    assert_locked_down(reply.headers)


def test_every_module_the_page_imports_is_served(client: Any) -> None:
    for module in UI.glob("*.js"):
        for imported in re.findall(r"from '\./([\w-]+\.js)'", module.read_text()):
            assert client.http.get(f"/ui/{imported}").status_code == 200, (module, imported)


def test_unknown_files_and_the_page_under_ui_are_not_found(client: Any) -> None:
    for path in ("/ui/nope.js", "/ui/index.html", "/ui/..", "/ui/dashboard.py"):
        reply = client.http.get(path)
        assert reply.status_code in (403, 404), path
        assert b"<html" not in reply.body


def test_an_unchanged_file_costs_a_304(client: Any) -> None:
    first = client.http.get("/ui/app.js")
    etag = first.headers["ETag"]
    again = client.http.get("/ui/app.js", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.body == b""
    other = client.http.get("/ui/app.js", headers={"If-None-Match": '"stale"'})
    assert other.status_code == 200 and other.body == first.body


def test_head_sends_headers_only(client: Any) -> None:
    reply = client.http.request("HEAD", "/")
    assert reply.status_code == 200 and reply.body == b""
    assert reply.headers["Content-Type"].startswith("text/html")


def test_a_stage_url_without_its_slash_is_redirected() -> None:
    reply = dashboard.slash_redirect("/api")
    assert reply is not None
    assert reply.status_code == 301 and reply.headers["Location"] == "/api/"
    assert dashboard.slash_redirect("/api/") is None
    assert dashboard.slash_redirect("/") is None


def test_the_page_has_no_inline_script_or_style() -> None:
    page = (UI / "index.html").read_text()
    assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", page))
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page), "inline event handlers"


@pytest.mark.parametrize("module", sorted(p.name for p in UI.glob("*.js")))
def test_no_module_parses_data_as_html(module: str) -> None:
    source = (UI / module).read_text()
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        "style=",
    ):
        assert sink not in source, f"{module} uses {sink}"


def test_the_key_is_sent_only_in_the_header() -> None:
    api = (UI / "api.js").read_text()
    assert "'X-Api-Key': session.key" in api
    for module in UI.glob("*.js"):
        source = module.read_text()
        assert "api_key=" not in source and "?key=" not in source, module.name
        assert "localStorage" not in source, "the key lives in sessionStorage only"
