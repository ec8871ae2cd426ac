"""The function URL front door: every ping form answers and records exactly as through REST.

Twin projects hold the same checks. Each request is sent to one twin through the REST API
(chalice's test client, as in test_app.py) and to the other through the ``ping`` function
with a function URL event in payload format 2.0, built as AWS documents it. Status, body and
headers must match, and so must what the ping log recorded.
"""

from __future__ import annotations

import base64
import gc
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine

from chalicelib import function_url, lambda_entry, ping_function
from tests.conftest import T0

# The notifier's moto stack (notify queue, dead letters, the channel API) for the alert test.
from tests.test_notifier import Stack, stack  # noqa: F401
from tools.template import PING_HANDLER

RID = "5d0e2a58-1c7e-4f0b-9a57-2f1b8f0c6a11"
URL_HOST = "abcdefghij.lambda-url.us-east-1.on.aws"
SOURCE_IP = "127.0.0.1"  # what chalice's test client puts in the REST event
TEXT_TYPES = ("text/", "application/json", "application/x-www-form-urlencoded")


def url_event(
    method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None
) -> dict[str, Any]:
    """A function URL request in payload format 2.0, as Lambda delivers it."""
    parts = urlsplit(target)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {"host": URL_HOST, **lowered},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghij",
            "domainName": URL_HOST,
            "domainPrefix": "abcdefghij",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": SOURCE_IP,
                "userAgent": "curl/8.5.0",
            },
            "requestId": "c3a8e5b0-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Mar/2026:12:00:00 +0000",
            "timeEpoch": int(T0.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if parts.query:
        pairs = [[*p.split("=", 1), ""] for p in parts.query.split("&")]
        event["queryStringParameters"] = {p[0]: p[1] for p in pairs}
    if body is not None:
        # Lambda base64-encodes any body whose content type is not textual.
        if lowered.get("content-type", "").startswith(TEXT_TYPES):
            event["body"] = body.decode()
        else:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def ping_entry() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The ``ping`` function's entry as the template names it: what Lambda runs for the URL."""
    module, name = PING_HANDLER.rsplit(".", 1)
    entry: Callable[[dict[str, Any], Any], dict[str, Any]] = getattr(
        importlib.import_module(module), name
    )
    return entry


LAMBDA_CONTEXT = SimpleNamespace(aws_request_id="test", function_name="vigil-dev-ping")


def invoke_ping(event: dict[str, Any]) -> dict[str, Any]:
    """A function URL request, handled as Lambda handles it: by the template's Handler."""
    return ping_entry()(event, LAMBDA_CONTEXT)


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Twin:
    """A project with the same checks as its twin; ``code`` maps the names used in the forms."""

    api_key: str
    codes: dict[str, str]

    def path(self, template: str) -> str:
        for name, value in self.codes.items():
            template = template.replace("{" + name + "}", value)
        return template


def make_twin(client: Any, deps: Any) -> Twin:
    from chalicelib.management import create_project

    project = create_project(deps, "twin")
    codes = {"key": project.ping_key}
    specs: dict[str, dict[str, Any]] = {
        "simple": {"timeout": 3600},
        "cron": {"schedule": "*/5 * * * *", "tz": "Europe/Riga"},
        "nightly": {"slug": "nightly", "timeout": 86400},
    }
    for name, fields in specs.items():
        reply = client.http.post(
            "/api/v3/checks/",
            headers={"X-Api-Key": project.api_key, "Content-Type": "application/json"},
            body=json.dumps({"name": name, **fields}),
        )
        assert reply.status_code == 201, reply.body
        codes[name] = json.loads(reply.body)["uuid"]
    return Twin(project.api_key, codes)


# What curl through either door delivers besides the request's own headers.
COMMON_HEADERS = {"User-Agent": "curl/8.5.0", "X-Forwarded-Proto": "https"}


def via_rest(client: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
    sent = {**COMMON_HEADERS, **headers}
    reply = getattr(client.http, method.lower())(path, headers=sent, body=body)
    return Reply(reply.status_code, reply.body, dict(reply.headers))


def via_url(client: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
    event = url_event(method, path, {**COMMON_HEADERS, **headers}, body or None)
    payload = invoke_ping(event)
    raw = payload["body"]
    data = base64.b64decode(raw) if payload["isBase64Encoded"] else raw.encode()
    return Reply(payload["statusCode"], data, dict(payload["headers"]))


BINARY = bytes(range(256))
# (method, path, headers, body): every ping form, good and bad, in an order that matters
# (a start then its finish; ?create=1 first creating, then finding).
FORMS: list[tuple[str, str, dict[str, str], bytes]] = [
    ("GET", "/ping/{simple}", {}, b""),
    ("POST", "/ping/{simple}", {"Content-Type": "text/plain"}, b"backup done"),
    ("HEAD", "/ping/{simple}", {}, b""),
    ("GET", "/ping/{simple}/", {}, b""),
    ("GET", f"/ping/{{simple}}/start?rid={RID}", {}, b""),
    ("POST", "/ping/{simple}/progress?rid=" + RID, {"Content-Type": "text/plain"}, b"3/7"),
    ("POST", f"/ping/{{simple}}/0?rid={RID}", {"Content-Type": "text/plain"}, b"ok"),
    ("POST", "/ping/{simple}/log", {}, b"a note sent as json by default"),
    ("GET", "/ping/{simple}/1", {}, b""),
    ("GET", "/ping/{simple}/fail", {}, b""),
    ("GET", "/ping/{simple}/start", {}, b""),
    ("POST", "/ping/{simple}", {"Content-Type": "application/octet-stream"}, BINARY),
    ("POST", "/ping/{cron}", {"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=2"),
    ("GET", "/ping/{cron}?tag=a&tag=b&rid=", {}, b""),
    ("GET", "/ping/{key}/nightly", {}, b""),
    ("GET", "/ping/{key}/nightly/start", {}, b""),
    ("GET", "/ping/{key}/nightly/progress", {}, b""),
    ("GET", "/ping/{key}/nightly/0", {}, b""),
    ("HEAD", "/ping/{key}/nightly/fail", {}, b""),
    ("GET", "/ping/{key}/brand-new-job?create=1", {}, b""),
    ("GET", "/ping/{key}/brand-new-job?create=1", {}, b""),
    ("GET", "/ping/{key}/brand-new-job/start", {}, b""),
    # Bad input: 4xx, as Healthchecks answers it.
    ("GET", "/ping/{simple}/256", {}, b""),
    ("GET", "/ping/{simple}/start?rid=not-a-uuid", {}, b""),
    ("GET", "/ping/{key}/Nightly", {}, b""),
    ("GET", "/ping/{key}/missing", {}, b""),
    ("GET", "/ping/{key}/" + "x" * 101 + "?create=1", {}, b""),
    ("GET", "/ping/7b4c2f0e-0000-4000-8000-000000000000", {}, b""),
    ("GET", "/ping/not-a-uuid", {}, b""),
    ("PUT", "/ping/{simple}", {}, b""),
    ("HEAD", "/ping/{key}/missing/start", {}, b""),
]


@pytest.fixture
def twins(client: Any, deps: Any) -> Iterator[tuple[Twin, Twin]]:
    with time_machine.travel(T0, tick=False):
        yield make_twin(client, deps), make_twin(client, deps)


def ping_log(client: Any, twin: Twin, name: str) -> list[dict[str, Any]]:
    reply = client.http.get(
        f"/api/v3/checks/{twin.codes[name]}/pings/", headers={"X-Api-Key": twin.api_key}
    )
    assert reply.status_code == 200, reply.body
    pings = json.loads(reply.body)["pings"]
    # The body's URL names the check (twins differ there) on the API's host; the rest must match.
    code = twin.codes[name]
    return [
        {
            **p,
            "body_url": (p["body_url"] or "").replace(code, "<uuid>"),
            "body": body(client, twin, p),
        }
        for p in pings
    ]


def body(client: Any, twin: Twin, ping: dict[str, Any]) -> bytes | None:
    """The logged body, byte for byte (the log lists only its URL)."""
    if not ping["body_url"]:
        return None
    reply = client.http.get(
        urlsplit(ping["body_url"]).path,
        headers={"X-Api-Key": twin.api_key, "Accept": "application/octet-stream"},
    )
    assert reply.status_code == 200, reply.body
    return bytes(reply.body)


def test_every_ping_form_answers_the_same_through_both_doors(
    client: Any, twins: tuple[Twin, Twin]
) -> None:
    rest_twin, url_twin = twins
    with time_machine.travel(T0, tick=False):
        for method, template, headers, body in FORMS:
            rest = via_rest(client, method, rest_twin.path(template), headers, body)
            url = via_url(client, method, url_twin.path(template), headers, body)
            assert (url.status, url.body, url.headers) == (
                rest.status,
                rest.body,
                rest.headers,
            ), f"{method} {template}"
            assert url.status < 500, f"{method} {template}"
    for name in ("simple", "cron", "nightly"):
        assert ping_log(client, url_twin, name) == ping_log(client, rest_twin, name), name


def test_slug_pings_and_auto_create_work_through_the_function_url(
    client: Any, twins: tuple[Twin, Twin]
) -> None:
    _, twin = twins
    with time_machine.travel(T0, tick=False):
        created = via_url(client, "GET", twin.path("/ping/{key}/cron-job?create=1"), {}, b"")
        again = via_url(client, "GET", twin.path("/ping/{key}/cron-job?create=1"), {}, b"")
        slug = via_url(client, "POST", twin.path("/ping/{key}/nightly/fail"), {}, b"exit 3")
    assert (created.status, created.body) == (201, b"Created")
    assert (again.status, again.body) == (200, b"OK")
    assert (slug.status, slug.body) == (200, b"OK")
    checks = client.http.get("/api/v3/checks/", headers={"X-Api-Key": twin.api_key})
    by_slug = {c["slug"]: c for c in json.loads(checks.body)["checks"]}
    assert by_slug["cron-job"]["n_pings"] == 2
    assert by_slug["nightly"]["status"] == "down"
    # A function URL has no stage: none may leak into the created check's URLs.
    assert "$default" not in json.dumps(by_slug["cron-job"])


def test_a_check_created_through_the_url_links_to_the_configured_api(
    client: Any, deps: Any, twins: tuple[Twin, Twin], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deployed, the ping function's VIGIL_SITE_ROOT is the REST API (tools/deploy.py, the
    stack), so a check made by ?create=1 there does not point its API URLs at the ping-only URL."""
    from dataclasses import replace

    from chalicelib import wiring

    rest = "https://abc123.execute-api.us-east-1.amazonaws.com/api"
    monkeypatch.setattr(
        wiring, "_deps", replace(deps, settings=replace(deps.settings, site_root=rest))
    )
    _, twin = twins
    with time_machine.travel(T0, tick=False):
        made = via_url(client, "GET", twin.path("/ping/{key}/linked?create=1"), {}, b"")
    assert made.status == 201
    checks = client.http.get("/api/v3/checks/", headers={"X-Api-Key": twin.api_key})
    (linked,) = [c for c in json.loads(checks.body)["checks"] if c["slug"] == "linked"]
    assert linked["update_url"].startswith(rest + "/api/v3/checks/")
    assert linked["ping_url"].startswith(rest + "/ping/")


def test_an_unexpected_error_answers_chalice_s_500_through_both_doors(
    client: Any, twins: tuple[Twin, Twin], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both doors call ``pings.respond``; if it ever raises, the URL answers as Chalice does."""
    from chalicelib import pings

    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(pings, "respond", broken)
    rest_twin, url_twin = twins
    with time_machine.travel(T0, tick=False):
        rest = via_rest(client, "GET", rest_twin.path("/ping/{simple}"), {}, b"")
        url = via_url(client, "GET", url_twin.path("/ping/{simple}"), {}, b"")
    assert rest.status == 500
    assert (url.status, json.loads(url.body)) == (rest.status, json.loads(rest.body))


def test_a_ping_through_the_url_flushes_metrics_as_the_rest_middleware_does(
    client: Any,
    twins: tuple[Twin, Twin],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("VIGIL_METRICS_FLUSH_SECONDS", "0")  # every request flushes
    from chalicelib import metrics

    _, twin = twins
    metrics.flush()  # what earlier requests left pending
    capsys.readouterr()
    with time_machine.travel(T0, tick=False):
        assert via_url(client, "GET", twin.path("/ping/{simple}"), {}, b"").status == 200
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if "_aws" in line]
    assert [line.get("Pings") for line in lines if "Pings" in line] == [1.0]


def test_the_ping_entry_logs_in_chalice_s_format_to_stdout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Started without app.py (as in Lambda), the entry sets the logger up as Chalice would."""
    import logging
    import sys

    from chalice.app import Chalice

    logger = logging.getLogger(ping_function.LOGGER)
    monkeypatch.setattr(logger, "handlers", [])
    monkeypatch.setattr(logger, "propagate", True)
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    ping_function.configure_logging()
    (handler,) = logger.handlers
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout
    assert handler.formatter is not None and handler.formatter._fmt == Chalice.FORMAT_STRING
    assert logger.level == logging.INFO and not logger.propagate
    assert importlib.import_module("app").app.log.name == ping_function.LOGGER


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/api/v3/checks/",
        "/badge/abc/def.svg",
        "/ping",
        "/ping/",
        "/ping/a/b/c/d",
        "/ping//start",
    ],
)
def test_the_function_url_serves_pings_only(client: Any, deps: Any, path: str) -> None:
    payload = invoke_ping(url_event("GET", path))
    assert payload["statusCode"] == 404
    assert payload["body"] == "not found"
    assert payload["headers"]["Content-Type"].startswith("text/plain")


def test_the_rest_event_carries_what_chalice_reads() -> None:
    routes = function_url.RouteTable(["/ping/{code}", "/ping/{code}/{suffix}", "/api/v3/checks"])
    event = url_event("POST", "/ping/k/s?tag=a&tag=b&empty=", {"X-Forwarded-For": "1.2.3.4"})
    event["cookies"] = ["a=1", "b=2"]
    rest = function_url.to_rest_event(event, routes)
    assert rest is not None
    assert rest["requestContext"]["resourcePath"] == "/ping/{code}/{suffix}"
    assert rest["requestContext"]["httpMethod"] == "POST"
    assert rest["requestContext"]["identity"]["sourceIp"] == SOURCE_IP
    assert "stage" not in rest["requestContext"]
    assert rest["pathParameters"] == {"code": "k", "suffix": "s"}
    assert rest["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "empty": [""]}
    assert rest["headers"]["x-forwarded-for"] == "1.2.3.4"
    assert rest["headers"]["cookie"] == "a=1; b=2"
    assert rest["body"] is None and rest["isBase64Encoded"] is False
    assert function_url.to_rest_event(url_event("GET", "/api/v3/checks"), routes) is None
    no_query = function_url.to_rest_event(url_event("GET", "/ping/k"), routes)
    assert no_query is not None and no_query["multiValueQueryStringParameters"] is None


def test_the_reply_keeps_multi_value_headers_and_cookies() -> None:
    reply = function_url.to_url_response(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "text/plain"},
            "multiValueHeaders": {"Vary": ["Accept", "Origin"], "Set-Cookie": ["a=1", "b=2"]},
            "body": "OK",
        }
    )
    assert reply == {
        "statusCode": 200,
        "headers": {"Content-Type": "text/plain", "Vary": "Accept, Origin"},
        "body": "OK",
        "isBase64Encoded": False,
        "cookies": ["a=1", "b=2"],
    }


def test_a_channel_only_check_brought_up_through_the_url_alerts_its_channel_as_through_rest(
    stack: Stack,  # noqa: F811  (the fixture imported above)
) -> None:
    """The ping function raises up alerts too: for a check routed to channels only, it queues
    the alert on the notify queue itself (its env names the queue, its role may SendMessage),
    and the channel hears exactly what it hears when the same happens through the REST API."""
    from tests.capture import CaptureServer
    from tests.conftest import read_alerts

    spy = stack.sqs.create_queue(QueueName="topic-subscriber")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=spy, AttributeNames=["QueueArn"])
    __import__("boto3").client("sns").subscribe(
        TopicArn=stack.deps.settings.topic_arn,
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
    )
    with CaptureServer() as hook:
        stack.add_channel(name="hook", kind="webhook", url=hook.url("/hook"))
        by_rest = stack.create_check(name="by-rest", channels="hook")["uuid"]
        by_url = stack.create_check(name="by-url", channels="hook")["uuid"]
        for uuid in (by_rest, by_url):
            stack.ping(uuid)
        stack.later(121)
        stack.sweep()
        assert stack.pump() == 4  # two alerts queued directly, one delivery each
        hook.wait_for(2)
        stack.ping(by_rest)
        reply = invoke_ping(url_event("GET", f"/ping/{by_url}"))
        assert (reply["statusCode"], reply["body"]) == (200, "OK")
        assert stack.pump() == 4
        delivered = [json.loads(r.body) for r in hook.wait_for(4)[2:]]
    ups = {d["check"]["uuid"]: d for d in delivered}
    assert set(ups) == {by_rest, by_url}
    assert all(d["event"] == "up" for d in delivered)
    rest_up, url_up = ups[by_rest], ups[by_url]
    assert sorted(url_up) == sorted(rest_up)
    assert url_up["check"]["name"] == "by-url" and rest_up["check"]["name"] == "by-rest"
    assert read_alerts(spy) == []  # neither door told the topic's subscribers


LAMBDA_ENVIRON = {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}


@pytest.fixture
def fresh_module(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module that records, as it loads, whether the garbage collector was on."""
    name = f"gc_probe_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text("import gc\nCOLLECTING = gc.isenabled()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    gc.unfreeze()  # whatever a test froze goes back to the collector
    gc.enable()


def test_in_lambda_the_handler_loads_with_the_collector_off_and_is_frozen_after(
    fresh_module: str,
) -> None:
    frozen = gc.get_freeze_count()
    module = lambda_entry.load(fresh_module, LAMBDA_ENVIRON)
    assert module.COLLECTING is False  # no collection while the init phase imports
    assert gc.isenabled()  # a warm request's garbage is collected as usual
    assert gc.get_freeze_count() > frozen  # what the import built is out of its reach


def test_outside_lambda_the_handler_loads_as_any_module(fresh_module: str) -> None:
    frozen = gc.get_freeze_count()
    module = lambda_entry.load(fresh_module, {})
    assert module.COLLECTING is True
    assert gc.get_freeze_count() == frozen


def test_a_disabled_collector_stays_disabled_after_the_handler_loads(fresh_module: str) -> None:
    gc.disable()
    lambda_entry.load(fresh_module, LAMBDA_ENVIRON)
    assert not gc.isenabled()


def test_the_ping_handler_is_the_ping_function_s_entry() -> None:
    assert ping_entry() is ping_function.handler
