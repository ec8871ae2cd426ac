"""Routes through chalice.test.Client and the sweeper through its scheduled event, on moto."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from tests.conftest import T0, read_alerts

PING_HEADERS = {"Content-Type": "text/plain"}


def create(client: Any, key: str, **fields: Any) -> dict[str, Any]:
    reply = client.http.post(
        "/api/v3/checks/",
        headers={"X-Api-Key": key, "Content-Type": "application/json"},
        body=json.dumps(fields),
    )
    assert reply.status_code == 201, reply.body
    return dict(json.loads(reply.body))


def sweep(client: Any) -> None:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    client.lambda_.invoke("sweep", event)


def get(client: Any, key: str, check_uuid: str) -> dict[str, Any]:
    reply = client.http.get(f"/api/v3/checks/{check_uuid}", headers={"X-Api-Key": key})
    assert reply.status_code == 200, reply.body
    return dict(json.loads(reply.body))


class TestEndToEnd:
    def test_silence_alerts_down_once_and_next_ping_alerts_up(
        self, client: Any, project: Any, aws: dict[str, str]
    ) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            check = create(client, project.api_key, name="nightly-backup", timeout=60, grace=60)
            assert client.http.get(f"/ping/{check['uuid']}").body == b"OK"
            clock.move_to(T0 + timedelta(seconds=119))
            sweep(client)
            assert read_alerts(aws["queue_url"]) == []
            clock.move_to(T0 + timedelta(seconds=120))
            sweep(client)
            sweep(client)
            (down,) = read_alerts(aws["queue_url"])
            clock.move_to(T0 + timedelta(minutes=10))
            sweep(client)
            assert read_alerts(aws["queue_url"]) == []
            client.http.post(f"/ping/{check['uuid']}", headers=PING_HEADERS, body=b"back")
            (up,) = read_alerts(aws["queue_url"])
        assert down["Subject"] == "DOWN: nightly-backup"
        assert down["document"]["reason"] == "timeout"
        assert down["document"]["flip"]["at"] == (T0 + timedelta(seconds=120)).isoformat()
        assert down["MessageAttributes"]["event"]["Value"] == "down"
        assert up["Subject"] == "UP: nightly-backup"
        assert up["document"]["flip"]["from"] == "down"
        assert up["document"]["last_ping"]["body"] == "back"

    def test_check_json_reports_status_and_counts(self, client: Any, project: Any) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            check = create(client, project.api_key, name="a", timeout=3600, grace=600)
            client.http.get(f"/ping/{check['uuid']}/start")
            clock.move_to(T0 + timedelta(seconds=30))
            client.http.get(f"/ping/{check['uuid']}")
            doc = get(client, project.api_key, check["uuid"])
        assert doc["status"] == "up"
        assert doc["n_pings"] == 2
        assert doc["last_ping"] == "2026-03-02T12:00:30+00:00"
        assert doc["next_ping"] == "2026-03-02T13:00:30+00:00"
        assert doc["last_duration"] == 30
        assert doc["timeout"] == 3600 and "schedule" not in doc
        assert doc["ping_url"].endswith(f"/ping/{check['uuid']}")


class TestPingProtocol:
    @pytest.fixture
    def check(self, client: Any, project: Any) -> dict[str, Any]:
        return create(client, project.api_key, name="p")

    @pytest.mark.parametrize("suffix", ["", "/", "/start", "/fail", "/log", "/0", "/1", "/255"])
    @pytest.mark.parametrize("method", ["GET", "POST", "HEAD"])
    def test_every_form_answers_ok(
        self, client: Any, check: dict[str, Any], suffix: str, method: str
    ) -> None:
        reply = client.http.request(method, f"/ping/{check['uuid']}{suffix}", headers={})
        assert reply.status_code == 200
        assert reply.body == (b"" if method == "HEAD" else b"OK")
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert reply.headers["Ping-Body-Limit"] == "10000"
        assert "no-cache" in reply.headers["Cache-Control"]

    @pytest.mark.parametrize(
        "content_type",
        [
            "application/x-www-form-urlencoded",
            "text/plain",
            "application/json",
            "application/octet-stream",
            "image/png",
            None,
        ],
    )
    def test_any_content_type_is_accepted(
        self, client: Any, check: dict[str, Any], content_type: str | None
    ) -> None:
        headers = {} if content_type is None else {"Content-Type": content_type}
        reply = client.http.post(f"/ping/{check['uuid']}", headers=headers, body=b"\xff not json {")
        assert reply.status_code == 200

    @pytest.mark.parametrize(
        ("path", "status", "text"),
        [
            ("/ping/00000000-0000-4000-8000-000000000000", 404, b"not found"),
            ("/ping/9F1C3B5E-2D4A-4C6B-8E0F-1A2B3C4D5E6F", 404, b"not found"),
            ("/ping/not-a-uuid", 404, b"not found"),
            ("/ping/{uuid}/256", 400, b"invalid url format"),
            ("/ping/{uuid}/1000", 400, b"invalid url format"),
            ("/ping/{uuid}/Nightly", 400, b"invalid url format"),
            ("/ping/{uuid}?rid=nope", 400, b"invalid uuid format"),
            ("/ping/{uuid}/start?rid=1234", 400, b"invalid uuid format"),
        ],
    )
    def test_errors_match_healthchecks(
        self, client: Any, check: dict[str, Any], path: str, status: int, text: bytes
    ) -> None:
        reply = client.http.get(path.format(uuid=check["uuid"]))
        assert (reply.status_code, reply.body) == (status, text)
        assert "Access-Control-Allow-Origin" not in reply.headers

    def test_bad_requests_write_nothing(
        self, client: Any, project: Any, check: dict[str, Any]
    ) -> None:
        client.http.get(f"/ping/{check['uuid']}?rid=bad")
        client.http.get(f"/ping/{check['uuid']}/256")
        assert get(client, project.api_key, check["uuid"])["n_pings"] == 0

    def test_body_is_kept_up_to_the_limit(
        self, client: Any, deps: Any, check: dict[str, Any]
    ) -> None:
        body = bytes(range(256)) * 50
        client.http.post(f"/ping/{check['uuid']}/fail", headers=PING_HEADERS, body=body)
        entry = deps.store.last_ping_entry(check["uuid"])
        assert entry.ping.body == body[:10_000]

    def test_ping_records_request_details(
        self, client: Any, deps: Any, check: dict[str, Any]
    ) -> None:
        rid = "5a0d3d2e-0c5e-4b4e-9a0b-9d8f8e7c6b5a"
        client.http.post(
            f"/ping/{check['uuid']}/7?rid={rid.upper()}",
            headers={
                "User-Agent": "x" * 300,
                "X-Forwarded-For": "203.0.113.9:4431, 10.0.0.1",
                "X-Forwarded-Proto": "https",
            },
            body=b"",
        )
        entry = deps.store.last_ping_entry(check["uuid"])
        assert (entry.n, entry.kind) == (1, "fail")
        assert entry.ping.exitstatus == 7
        assert entry.ping.rid == rid
        assert entry.ping.ua == "x" * 200
        assert entry.ping.remote_addr == "203.0.113.9"
        assert (entry.ping.method, entry.ping.scheme) == ("POST", "https")


class TestManagementApi:
    def test_missing_and_wrong_keys(self, client: Any, project: Any) -> None:
        missing = client.http.post("/api/v3/checks/", body=b"{}")
        assert (missing.status_code, json.loads(missing.body)) == (
            401,
            {"error": "missing api key"},
        )
        wrong = client.http.post("/api/v3/checks/", headers={"X-Api-Key": "x" * 32}, body=b"{}")
        assert (wrong.status_code, json.loads(wrong.body)) == (401, {"error": "wrong api key"})

    def test_read_only_key_cannot_create_but_can_read(self, client: Any, project: Any) -> None:
        denied = client.http.post(
            "/api/v3/checks/", headers={"X-Api-Key": project.api_key_readonly}, body=b"{}"
        )
        assert denied.status_code == 401
        check = create(client, project.api_key, name="r")
        doc = get(client, project.api_key_readonly, check["uuid"])
        assert "uuid" not in doc and "ping_url" not in doc and len(doc["unique_key"]) == 40

    def test_api_key_in_body(self, client: Any, project: Any) -> None:
        reply = client.http.post(
            "/api/v3/checks/", body=json.dumps({"api_key": project.api_key, "name": "b"})
        )
        assert reply.status_code == 201

    def test_other_projects_check_is_forbidden(self, client: Any, deps: Any, project: Any) -> None:
        from chalicelib.management import create_project

        other = create_project(deps, "other")
        check = create(client, project.api_key, name="mine")
        reply = client.http.get(
            f"/api/v3/checks/{check['uuid']}", headers={"X-Api-Key": other.api_key}
        )
        assert reply.status_code == 403

    def test_cron_check(self, client: Any, project: Any) -> None:
        doc = create(client, project.api_key, schedule="30 2 * * *", tz="Europe/Kiev", grace=60)
        assert (doc["schedule"], doc["tz"], "timeout" in doc) == (
            "30 2 * * *",
            "Europe/Kyiv",
            False,
        )

    @pytest.mark.parametrize(
        ("body", "error"),
        [
            (b"{not json", "could not parse request body"),
            (b"[1, 2]", "json validation error: value is not an object"),
            (b'{"name": null}', "json validation error: name is not a string"),
            (b'{"name": "' + b"n" * 101 + b'"}', "json validation error: name is too long"),
            (b'{"slug": "Bad Slug"}', "json validation error: slug does not match pattern"),
            (b'{"timeout": "60"}', "json validation error: timeout is not a number"),
            (b'{"timeout": true}', "json validation error: timeout is not a number"),
            (b'{"timeout": 59}', "json validation error: timeout is too small"),
            (b'{"grace": 31536001}', "json validation error: grace is too large"),
            (b'{"max_duration": 10}', "json validation error: max_duration is too small"),
            (
                b'{"schedule": "* * * *"}',
                "json validation error: schedule is not a valid cron or OnCalendar expression",
            ),
            (
                b'{"schedule": "0 0 30 2 *"}',
                "json validation error: schedule is not a valid cron or OnCalendar expression",
            ),
            (b'{"tz": "Mars/Olympus"}', "json validation error: tz is not a valid timezone"),
            (b'{"tz": "../etc/passwd"}', "json validation error: tz is not a valid timezone"),
        ],
    )
    def test_bad_input_is_400_and_writes_nothing(
        self, client: Any, deps: Any, project: Any, body: bytes, error: str
    ) -> None:
        reply = client.http.post(
            "/api/v3/checks/", headers={"X-Api-Key": project.api_key}, body=body
        )
        assert (reply.status_code, json.loads(reply.body)) == (400, {"error": error})
        import boto3

        items = boto3.client("dynamodb").scan(TableName=deps.settings.table)["Items"]
        assert not [i for i in items if i["pk"]["S"].startswith("CHECK#")]

    def test_unknown_fields_are_ignored(self, client: Any, project: Any) -> None:
        doc = create(client, project.api_key, name="u", surprise=[1, 2, 3])
        assert doc["name"] == "u"

    def test_unknown_check_is_404(self, client: Any, project: Any) -> None:
        reply = client.http.get(
            "/api/v3/checks/00000000-0000-4000-8000-000000000000",
            headers={"X-Api-Key": project.api_key},
        )
        assert reply.status_code == 404
