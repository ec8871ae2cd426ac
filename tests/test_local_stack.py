"""``python -m chalicelib.cli serve`` end to end over real HTTP, then a clean Ctrl-C."""

from __future__ import annotations

import json
import urllib.request

from tests.stack import http, port_is_open, running_stack


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
