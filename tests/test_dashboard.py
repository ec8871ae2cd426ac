"""The dashboard's files as the app serves them: types, security headers, caching (versioned
URLs, ETags, 304s), and what the page's code may never do (inline script or style, HTML from
data). The browser tests drive it."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
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
    version = dashboard.site().version
    assert f'<script type="module" src="ui/{version}/app.js"></script>' in page
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
    version = dashboard.site().version
    for module in UI.glob("*.js"):
        for imported in re.findall(r"from '\./([\w-]+\.js)'", module.read_text()):
            for path in (f"/ui/{version}/{imported}", f"/ui/{imported}"):
                assert client.http.get(path).status_code == 200, (module, path)


def test_unknown_files_and_the_page_under_ui_are_not_found(client: Any) -> None:
    version = dashboard.site().version
    for path in ("/ui/nope.js", "/ui/index.html", "/ui/..", "/ui/dashboard.py"):
        for tried in (path, path.replace("/ui/", f"/ui/{version}/")):
            reply = client.http.get(tried)
            assert reply.status_code in (403, 404), tried
            assert b"<html" not in reply.body


# --- caching ------------------------------------------------------------------------------------


def linked(page: str) -> list[str]:
    """Every URL the page's own markup loads (the fragment links aside)."""
    return [url for url in re.findall(r'(?:href|src)="([^"]+)"', page) if not url.startswith("#")]


def test_the_page_links_its_files_by_a_version_that_is_kept_for_a_year(client: Any) -> None:
    reply = client.http.get("/")
    version = dashboard.site().version
    urls = linked(reply.body.decode())
    assert sorted(set(urls)) == [f"ui/{version}/{n}" for n in ("app.js", "icon.svg", "style.css")]
    for url in [*urls, f"ui/{version}/check.js"]:  # and what the modules import from there
        served = client.http.get(f"/{url}")
        assert served.status_code == 200, url
        assert served.body == (UI / url.rsplit("/", 1)[1]).read_bytes()
        assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert served.headers["ETag"]
        assert_locked_down(served.headers)


def test_the_page_itself_is_asked_for_every_time_and_costs_a_304_unchanged(client: Any) -> None:
    first = client.http.get("/")
    assert first.headers["Cache-Control"] == "no-cache"
    again = client.http.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.body == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Cache-Control"] == "no-cache"


@pytest.fixture
def edited_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of ui/ the test may edit, as a deploy would; the served files are reread."""
    copy = tmp_path / "ui"
    shutil.copytree(UI, copy)
    monkeypatch.setattr(dashboard, "UI_DIR", copy)
    dashboard.site.cache_clear()
    yield copy
    dashboard.site.cache_clear()


def test_a_deploy_that_changes_any_file_moves_every_url_and_the_page(
    client: Any, edited_ui: Path
) -> None:
    """The page is never kept against new code: its ETag changes with the version it links."""
    before = client.http.get("/")
    old_version = dashboard.site().version
    dom = edited_ui / "dom.js"  # imported by others, never linked by the page itself
    dom.write_text(dom.read_text() + "\n// changed\n")
    dashboard.site.cache_clear()  # a new deploy: a new process
    after = client.http.get("/", headers={"If-None-Match": before.headers["ETag"]})
    new_version = dashboard.site().version
    assert new_version != old_version
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    assert f"ui/{new_version}/app.js" in after.body.decode()
    assert client.http.get(f"/ui/{new_version}/dom.js").body.endswith(b"// changed\n")


def test_another_versions_url_gets_todays_file_but_not_for_keeps(client: Any) -> None:
    """A tab opened before a deploy loads its lazy modules (check.js, form.js) later."""
    reply = client.http.get("/ui/0123456789abcdef/check.js")
    assert reply.status_code == 200 and reply.body == (UI / "check.js").read_bytes()
    assert reply.headers["Cache-Control"] == "no-cache"
    bare = client.http.get("/ui/check.js")
    assert bare.status_code == 200 and bare.headers["Cache-Control"] == "no-cache"


def test_an_unchanged_file_costs_a_304(client: Any) -> None:
    path = f"/ui/{dashboard.site().version}/app.js"
    first = client.http.get(path)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{20}"', etag), "strong, a content hash"
    for sent in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
        again = client.http.get(path, headers={"If-None-Match": sent})
        assert again.status_code == 304 and again.body == b"", sent
        assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    other = client.http.get(path, headers={"If-None-Match": '"stale", W/"other"'})
    assert other.status_code == 200 and other.body == first.body


def test_every_reply_may_be_compressed_so_caches_keep_one_per_encoding(client: Any) -> None:
    for path in ("/", f"/ui/{dashboard.site().version}/style.css", "/ui/app.js"):
        assert client.http.get(path).headers["Vary"] == "Accept-Encoding", path


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
