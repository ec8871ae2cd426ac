"""``/progress``: Vigil's heartbeat from a running job, recorded like ``/log``.

It changes neither status nor deadline; it marks runs alive (issue 11, tests/test_run_health.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from tests.conftest import T0

RID = "5a0d3d2e-0c5e-4b4e-9a0b-9d8f8e7c6b5a"
JSON = {"Content-Type": "application/json"}


def create(client: Any, key: str, **fields: Any) -> dict[str, Any]:
    reply = client.http.post(
        "/api/v3/checks/", headers={"X-Api-Key": key, **JSON}, body=json.dumps(fields)
    )
    assert reply.status_code == 201, reply.body
    return dict(json.loads(reply.body))


def get(client: Any, key: str, path: str) -> Any:
    reply = client.http.get(f"/api/v3/checks/{path}", headers={"X-Api-Key": key})
    assert reply.status_code == 200, reply.body
    return json.loads(reply.body)


@pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
@pytest.mark.parametrize("form", ["uuid", "slug"])
def test_both_url_forms_record_a_progress_ping_with_rid_and_body(
    client: Any, project: Any, method: str, form: str
) -> None:
    check = create(client, project.api_key, name="p", slug="nightly")
    base = check["uuid"] if form == "uuid" else f"{project.ping_key}/nightly"
    reply = client.http.request(
        method,
        f"/ping/{base}/progress?rid={RID}",
        headers={"Content-Type": "text/plain"},
        body=b"42 of 100 done",
    )
    assert reply.status_code == 200
    assert reply.body == (b"" if method == "HEAD" else b"OK")
    (ping,) = get(client, project.api_key, f"{check['uuid']}/pings/")["pings"]
    assert (ping["type"], ping["rid"], ping["method"]) == ("progress", RID, method)
    body = client.http.get(
        f"/api/v3/checks/{check['uuid']}/pings/1/body", headers={"X-Api-Key": project.api_key}
    )
    assert body.body == b"42 of 100 done"


def test_progress_changes_neither_status_nor_deadline_nor_runs(client: Any, project: Any) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        check = create(client, project.api_key, name="p", timeout=3600, grace=3600)
        client.http.get(f"/ping/{check['uuid']}")
        client.http.get(f"/ping/{check['uuid']}/start?rid={RID}")
        before = get(client, project.api_key, check["uuid"])
        clock.move_to(T0 + timedelta(minutes=30))
        client.http.get(f"/ping/{check['uuid']}/progress?rid={RID}")
        after = get(client, project.api_key, check["uuid"])
    assert after["n_pings"] == before["n_pings"] + 1
    for field in ("status", "last_ping", "next_ping", "started"):
        assert after[field] == before[field], field
    assert after["status"] == "up" and after["started"] is True
    # The run it names is marked alive (issue 11), and stays the same run.
    (run,) = after["runs"]
    assert (run["rid"], run["started"]) == (RID, before["runs"][0]["started"])
    assert run["last_progress"] == (T0 + timedelta(minutes=30)).isoformat()


def test_progress_on_a_new_check_leaves_it_new(client: Any, project: Any) -> None:
    check = create(client, project.api_key, name="p")
    client.http.get(f"/ping/{check['uuid']}/progress")
    doc = get(client, project.api_key, check["uuid"])
    assert (doc["status"], doc["last_ping"], doc["n_pings"]) == ("new", None, 1)


def test_body_keywords_never_turn_progress_into_a_finish(client: Any, project: Any) -> None:
    check = create(
        client, project.api_key, name="p", filter_http_body=True, success_kw="OK", failure_kw="ERR"
    )
    for body in (b"3 OK so far", b"1 ERR retried"):
        client.http.post(
            f"/ping/{check['uuid']}/progress", headers={"Content-Type": "text/plain"}, body=body
        )
    pings = get(client, project.api_key, f"{check['uuid']}/pings/")["pings"]
    assert [p["type"] for p in pings] == ["progress", "progress"]
    assert get(client, project.api_key, check["uuid"])["status"] == "new"
