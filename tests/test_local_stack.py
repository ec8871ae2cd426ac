"""``python -m chalicelib.cli serve`` end to end over real HTTP, then a clean Ctrl-C."""

from __future__ import annotations

import json
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.stack import http, port_is_open, running_stack

pytestmark = pytest.mark.slow  # real stacks over HTTP
CONCURRENT_PINGS = 100  # the ping log keeps 100 by default, so every one stays countable


def test_serve_runs_the_api_on_embedded_aws_and_stops_cleanly() -> None:
    with running_stack() as stack:
        key = stack.keys["api_key"]
        assert "curl" in stack.banner and key in stack.banner
        dashboard = f"Dashboard (signs in with the read-write key): {stack.base}/#key={key}"
        assert dashboard in stack.banner
        status, body = http(
            "POST", f"{stack.base}/api/v3/checks/", b'{"name": "smoke", "timeout": 60}', key
        )
        assert status == 201
        check = json.loads(body)
        assert http("GET", f"{stack.base}/ping/{check['uuid']}") == (200, b"OK")
        _, body = http("GET", f"{stack.base}/api/v3/checks/{check['uuid']}", key=key)
        assert json.loads(body)["n_pings"] == 1
        # A fail ping alerts at once: the alert printer shows it on the console.
        http("POST", f"{stack.base}/ping/{check['uuid']}/fail", b"boom")
        stack.console.wait_for("ALERT DOWN: smoke (fail)", 20)
        # chalice local carries a binary ping body both ways, byte for byte.
        binary = bytes(range(256))
        sent = urllib.request.Request(
            f"{stack.base}/ping/{check['uuid']}/log",
            data=binary,
            headers={"Content-Type": "application/octet-stream"},
        )
        urllib.request.urlopen(sent, timeout=10).close()
        fetch = urllib.request.Request(
            f"{stack.base}/api/v3/checks/{check['uuid']}/pings/3/body",
            headers={"X-Api-Key": key, "Accept": "application/octet-stream"},
        )
        with urllib.request.urlopen(fetch, timeout=10) as reply:
            assert reply.read() == binary
        assert stack.stop() == 0
        assert not port_is_open(stack.port) and not port_is_open(stack.moto_port)


def test_concurrent_pings_over_http_are_all_counted_and_logged() -> None:
    """The embedded DynamoDB serialises writes as DynamoDB does (issue 8: 96 pings made 93)."""
    with running_stack() as stack:
        key = stack.keys["api_key"]
        _, body = http("POST", f"{stack.base}/api/v3/checks/", b'{"name": "busy"}', key)
        check = json.loads(body)["uuid"]
        sent = {f"ping {i}".encode() for i in range(CONCURRENT_PINGS)}
        with ThreadPoolExecutor(16) as pool:
            replies = list(
                pool.map(lambda body: http("POST", f"{stack.base}/ping/{check}", body), sent)
            )
        assert replies == [(200, b"OK")] * CONCURRENT_PINGS
        _, body = http("GET", f"{stack.base}/api/v3/checks/{check}", key=key)
        assert json.loads(body)["n_pings"] == CONCURRENT_PINGS
        log = stack.ping_log(check)
        assert sorted(entry.n for entry in log) == list(range(1, CONCURRENT_PINGS + 1))
        assert {entry.ping.body for entry in log} == sent
        assert stack.stop() == 0


def test_serve_delivers_to_channel_urls_and_prints_each_attempt_under_its_alert() -> None:
    from tests.capture import Behaviour, CaptureServer

    with (
        CaptureServer() as hook,
        CaptureServer(Behaviour(status=500, body=b"boom")) as broken,
        running_stack() as stack,
    ):
        key = stack.keys["api_key"]
        for name, server in (("local-hook", hook), ("local-broken", broken)):
            body = json.dumps({"name": name, "kind": "slack", "url": server.url("/s")})
            assert http("POST", f"{stack.base}/api/v3/channels/", body.encode(), key)[0] == 201
        status, body = http(
            "POST", f"{stack.base}/api/v3/checks/", b'{"name": "routed", "channels": "*"}', key
        )
        assert status == 201
        uuid = json.loads(body)["uuid"]
        http("POST", f"{stack.base}/ping/{uuid}/fail", b"boom")
        (request,) = hook.wait_for(1)
        assert "DOWN" in json.loads(request.body)["text"]
        notify = stack.console.wait_for("NOTIFY DOWN: routed", 20).splitlines()[-1]
        flip = notify.split("flip=")[1].split()[0]
        stack.console.wait_for("  -> slack", 20)
        seen = stack.console.wait_for("  -> slack", 20).splitlines()
        attempts = [line for line in seen if line.startswith("  -> slack")]
        assert sorted(attempts) == [
            f"  -> slack 'local-broken' attempt 1: DOWN flip={flip} will retry: HTTP 500: boom",
            f"  -> slack 'local-hook' attempt 1: DOWN flip={flip} delivered (HTTP 200)",
        ]
        _, listed = http("GET", f"{stack.base}/api/v3/channels/", key=key)
        by_name = {c["name"]: c for c in json.loads(listed)["channels"]}
        assert by_name["local-hook"]["last_error"] == ""
        assert by_name["local-broken"]["last_error"] == "HTTP 500: boom"
        assert stack.stop() == 0
