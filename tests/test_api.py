"""Management API v1-v3, slug pings, keyword filters, pause/resume, badges and retention.

Exact responses for every status and text of hc-protocol.md §1.4 and §3.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from chalicelib.management import create_project
from tests.conftest import T0, read_alerts

JSON = {"Content-Type": "application/json"}


class Api:
    """A thin HTTP helper over chalice.test.Client."""

    def __init__(self, client: Any, key: str, version: str = "v3") -> None:
        self.client, self.key, self.version = client, key, version

    def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Any:
        headers = {**JSON, "X-Api-Key": key if key is not None else self.key}
        raw = b"" if body is None else json.dumps(body).encode()
        return self.client.http.request(
            method, f"/api/{self.version}/{path}", headers=headers, body=raw
        )

    def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        reply = self.call(method, path, body)
        assert reply.status_code == status, reply.body
        return json.loads(reply.body)

    def create(self, **fields: Any) -> dict[str, Any]:
        return dict(self.ok("POST", "checks/", {"timeout": 3600, **fields}, status=201))


def error(reply: Any) -> tuple[int, Any]:
    try:
        return reply.status_code, json.loads(reply.body)
    except ValueError:
        return reply.status_code, reply.body


@pytest.fixture
def api(client: Any, project: Any) -> Api:
    return Api(client, project.api_key)


@pytest.fixture
def other(client: Any, deps: Any) -> Any:
    return create_project(deps, "other")


class TestChecksApi:
    def test_create_list_get_update_delete(self, api: Api) -> None:
        created = api.create(name="Backups", slug="backups", tags="prod db", grace=120)
        api.create(name="web", tags="prod")
        assert [c["name"] for c in api.ok("GET", "checks/")["checks"]] == ["Backups", "web"]
        by_tags = api.client.http.get(
            "/api/v3/checks/?tag=prod&tag=db", headers={"X-Api-Key": api.key}
        )
        assert [c["name"] for c in json.loads(by_tags.body)["checks"]] == ["Backups"]
        by_slug = api.ok("GET", "checks/?slug=backups")["checks"]
        assert [c["uuid"] for c in by_slug] == [created["uuid"]]
        updated = api.ok(
            "POST", f"checks/{created['uuid']}", {"schedule": "0 3 * * *", "tz": "UTC"}
        )
        assert (updated["schedule"], updated["grace"], updated["name"]) == (
            "0 3 * * *",
            120,
            "Backups",
        )
        assert api.ok("GET", f"checks/{created['uuid']}")["schedule"] == "0 3 * * *"
        deleted = api.ok("DELETE", f"checks/{created['uuid']}")
        assert deleted["uuid"] == created["uuid"]
        assert api.call("GET", f"checks/{created['uuid']}").status_code == 404

    def test_upsert_by_unique_fields(self, api: Api) -> None:
        first = api.ok("POST", "checks/", {"name": "job", "unique": ["name"]}, status=201)
        again = api.ok("POST", "checks/", {"name": "job", "tags": "x", "unique": ["name"]})
        assert again["uuid"] == first["uuid"] and again["tags"] == "x"
        # A unique field the body does not carry always creates.
        api.ok("POST", "checks/", {"tags": "x", "unique": ["name"]}, status=201)

    def test_update_recomputes_the_deadline(self, api: Api, deps: Any) -> None:
        with time_machine.travel(T0, tick=False):
            check = api.create(timeout=3600, grace=60)
            api.client.http.get(f"/ping/{check['uuid']}")
            api.ok("POST", f"checks/{check['uuid']}", {"timeout": 60})
        stored = deps.store.get_check(check["uuid"])
        from chalicelib import domain

        assert domain.alert_after(stored) == T0 + timedelta(seconds=120)

    def test_v1_derives_slug_from_name_and_reports_started(self, client: Any, project: Any) -> None:
        v1 = Api(client, project.api_key, "v1")
        check = v1.ok("POST", "checks/", {"name": "Nightly Backup!", "timeout": 60}, status=201)
        assert check["slug"] == "nightly-backup"
        client.http.get(f"/ping/{check['uuid']}/start")
        assert v1.ok("GET", f"checks/{check['uuid']}")["status"] == "started"
        assert check["update_url"].endswith(f"/api/v1/checks/{check['uuid']}")

    def test_v3_takes_slug_only_from_slug(self, api: Api) -> None:
        assert api.create(name="Nightly Backup")["slug"] == ""

    def test_pause_and_resume(self, api: Api, aws: dict[str, str]) -> None:
        check = api.create()
        api.client.http.get(f"/ping/{check['uuid']}")
        assert api.ok("POST", f"checks/{check['uuid']}/pause")["status"] == "paused"
        assert api.ok("POST", f"checks/{check['uuid']}/pause")["status"] == "paused"
        assert api.ok("POST", f"checks/{check['uuid']}/resume")["status"] == "new"
        reply = api.call("POST", f"checks/{check['uuid']}/resume")
        assert (reply.status_code, reply.body) == (409, b"check is not paused")
        assert read_alerts(aws["queue_url"]) == []  # pause and resume notify nobody
        flips = api.ok("GET", f"checks/{check['uuid']}/flips/")["flips"]
        assert [f["up"] for f in flips] == [0, 0, 1]

    def test_pings_list_with_durations_and_bodies(self, api: Api) -> None:
        check = api.create()
        rid = "5a0d3d2e-0c5e-4b4e-9a0b-9d8f8e7c6b5a"
        with time_machine.travel(T0, tick=False) as clock:
            api.client.http.get(f"/ping/{check['uuid']}/start?rid={rid}")
            clock.move_to(T0 + timedelta(seconds=42))
            api.client.http.post(
                f"/ping/{check['uuid']}?rid={rid}",
                headers={"Content-Type": "text/plain"},
                body=b"done",
            )
        pings = api.ok("GET", f"checks/{check['uuid']}/pings/")["pings"]
        assert [(p["type"], p["n"], p.get("duration")) for p in pings] == [
            ("success", 2, 42.0),
            ("start", 1, None),
        ]
        assert pings[1]["body_url"] is None
        assert pings[0]["date"] == (T0 + timedelta(seconds=42)).isoformat()
        body = api.client.http.get(
            pings[0]["body_url"].split("127.0.0.1", 1)[-1].split("localhost", 1)[-1],
            headers={"X-Api-Key": api.key},
        )
        assert (body.status_code, body.body) == (200, b"done")
        assert api.call("GET", f"checks/{check['uuid']}/pings/1/body").status_code == 404
        assert api.call("GET", f"checks/{check['uuid']}/pings/9/body").status_code == 404

    def test_flip_filters(self, api: Api) -> None:
        check = api.create()
        with time_machine.travel(T0, tick=False) as clock:
            api.client.http.get(f"/ping/{check['uuid']}")
            clock.move_to(T0 + timedelta(hours=1))
            api.client.http.get(f"/ping/{check['uuid']}/fail")
            start = int((T0 + timedelta(minutes=30)).timestamp())
            assert [
                f["up"]
                for f in api.ok("GET", f"checks/{check['uuid']}/flips/?start={start}")["flips"]
            ] == [0]
            assert [
                f["up"]
                for f in api.ok("GET", f"checks/{check['uuid']}/flips/?end={start}")["flips"]
            ] == [1]
            assert len(api.ok("GET", f"checks/{check['uuid']}/flips/?seconds=60")["flips"]) == 1
            for bad in ("seconds=-1", "seconds=31536001", "start=abc", "end=10000000001"):
                assert api.call("GET", f"checks/{check['uuid']}/flips/?{bad}").status_code == 400

    def test_read_only_key_by_unique_key(self, client: Any, project: Any, api: Api) -> None:
        check = api.create(name="ro")
        ro = Api(client, project.api_key_readonly)
        (listed,) = ro.ok("GET", "checks/")["checks"]
        assert "uuid" not in listed and "ping_url" not in listed
        assert ro.ok("GET", f"checks/{listed['unique_key']}")["name"] == "ro"
        assert ro.ok("GET", f"checks/{listed['unique_key']}/flips/") == {"flips": []}
        assert "*" in ro.ok("GET", "badges/")["badges"]
        for method, path in [
            ("POST", "checks/"),
            ("POST", f"checks/{check['uuid']}"),
            ("DELETE", f"checks/{check['uuid']}"),
            ("POST", f"checks/{check['uuid']}/pause"),
            ("GET", f"checks/{check['uuid']}/pings/"),
            ("GET", "channels/"),
        ]:
            assert error(ro.call(method, path, {})) == (401, {"error": "wrong api key"})

    def test_channels_and_status(self, api: Api, settings: Any) -> None:
        (channel,) = api.ok("GET", "channels/")["channels"]
        assert (channel["name"], channel["kind"]) == ("vigil-test-alerts", "sns")
        check = api.create(channels="*")
        assert check["channels"] == channel["id"]
        assert api.create(channels="")["channels"] == ""
        assert api.create(channels=channel["name"])["channels"] == channel["id"]
        status = api.client.http.get("/api/v3/status/")
        assert (status.status_code, status.body) == (200, b"OK")

    def test_check_with_no_channels_does_not_alert(self, api: Api, aws: dict[str, str]) -> None:
        check = api.create(channels="")
        api.client.http.get(f"/ping/{check['uuid']}")
        api.client.http.get(f"/ping/{check['uuid']}/fail")
        assert read_alerts(aws["queue_url"]) == []

    def test_cors(self, api: Api) -> None:
        reply = api.client.http.request("OPTIONS", "/api/v3/checks/", headers={})
        assert reply.status_code == 204
        assert reply.headers["Access-Control-Allow-Origin"] == "*"
        assert reply.headers["Access-Control-Allow-Headers"] == "X-Api-Key"
        assert reply.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
        assert reply.headers["Access-Control-Max-Age"] == "600"
        assert api.call("PUT", "checks/").status_code == 405

    def test_unknown_version_is_404(self, api: Api) -> None:
        assert (
            api.client.http.get("/api/v4/checks/", headers={"X-Api-Key": api.key}).status_code
            == 404
        )


class TestApiErrors:
    """Every status and text of hc-protocol.md §3."""

    @pytest.mark.parametrize("key", [None, "", "short", "x" * 33])
    def test_missing_api_key(self, api: Api, key: str | None) -> None:
        headers = JSON if key is None else {**JSON, "X-Api-Key": key}
        reply = api.client.http.get("/api/v3/checks/", headers=headers)
        assert error(reply) == (401, {"error": "missing api key"})

    def test_wrong_api_key(self, api: Api) -> None:
        assert error(api.call("GET", "checks/", key="x" * 32)) == (401, {"error": "wrong api key"})

    def test_api_key_in_post_body_only(self, api: Api) -> None:
        reply = api.client.http.post(
            "/api/v3/checks/", headers=JSON, body=json.dumps({"api_key": api.key}).encode()
        )
        assert reply.status_code == 201

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"{oops", "could not parse request body"),
            (b'"text"', "json validation error: value is not an object"),
            (b'{"name": 5}', "json validation error: name is not a string"),
            (b'{"tags": null}', "json validation error: tags is not a string"),
            (b'{"desc": []}', "json validation error: desc is not a string"),
            (b'{"timeout": 1.5}', "json validation error: timeout is not a number"),
            (b'{"grace": 59}', "json validation error: grace is too small"),
            (b'{"timeout": 31536001}', "json validation error: timeout is too large"),
            (b'{"manual_resume": "yes"}', "json validation error: manual_resume is not a boolean"),
            (
                b'{"filter_http_body": 1}',
                "json validation error: filter_http_body is not a boolean",
            ),
            (b'{"methods": "GET"}', "json validation error: methods has unexpected value"),
            (b'{"unique": "name"}', "json validation error: unique is not an array"),
            (
                b'{"unique": ["desc"]}',
                "json validation error: an item in 'unique' has unexpected value",
            ),
            (b'{"slug": "A"}', "json validation error: slug does not match pattern"),
            (b'{"start_kw": "' + b"k" * 201 + b'"}', "json validation error: start_kw is too long"),
            (
                b'{"schedule": "* * * * * *"}',
                "json validation error: schedule is not a valid cron or OnCalendar expression",
            ),
            (b'{"tz": "Nowhere/City"}', "json validation error: tz is not a valid timezone"),
            (b'{"channels": "nope"}', "invalid channel identifier: nope"),
            (b'{"channels": ",x"}', "empty channel identifier"),
        ],
    )
    def test_validation(self, api: Api, deps: Any, body: bytes, message: str) -> None:
        for path in ("checks/", f"checks/{api.create()['uuid']}"):
            reply = api.client.http.post(
                f"/api/v3/{path}", headers={"X-Api-Key": api.key}, body=body
            )
            assert error(reply) == (400, {"error": message})
        # Nothing half-written: the update left the check as it was.
        (check,) = [c for c in api.ok("GET", "checks/")["checks"]][-1:]
        assert check["timeout"] == 3600 and check["name"] == ""

    def test_not_found(self, api: Api) -> None:
        missing = "00000000-0000-4000-8000-000000000000"
        for method, path in [
            ("GET", f"checks/{missing}"),
            ("POST", f"checks/{missing}"),
            ("DELETE", f"checks/{missing}"),
            ("POST", f"checks/{missing}/pause"),
            ("POST", f"checks/{missing}/resume"),
            ("GET", f"checks/{missing}/pings/"),
            ("GET", f"checks/{missing}/flips/"),
            ("GET", f"checks/{'a' * 40}"),
            ("GET", f"checks/{missing}/pings/1/body"),
        ]:
            assert api.call(method, path, {}).status_code == 404, (method, path)


class TestIsolation:
    """A key of one project gets 403 or 404 for everything of another, through every endpoint."""

    def test_every_endpoint(self, client: Any, api: Api, other: Any) -> None:
        mine = api.create(name="mine", tags="secret")
        client.http.post(f"/ping/{mine['uuid']}", headers={"Content-Type": "text/plain"}, body=b"x")
        unique = Api(client, api.key.replace("hcw", "hcw")).ok("GET", "checks/")["checks"][0]
        theirs = Api(client, other.api_key)
        theirs_ro = Api(client, other.api_key_readonly)
        uuid = mine["uuid"]
        for who in (theirs, theirs_ro):
            for method, path in [
                ("GET", f"checks/{uuid}"),
                ("POST", f"checks/{uuid}"),
                ("DELETE", f"checks/{uuid}"),
                ("POST", f"checks/{uuid}/pause"),
                ("POST", f"checks/{uuid}/resume"),
                ("GET", f"checks/{uuid}/pings/"),
                ("GET", f"checks/{uuid}/pings/1/body"),
                ("GET", f"checks/{uuid}/flips/"),
            ]:
                status = who.call(method, path, {"name": "stolen"}).status_code
                assert status in (401, 403, 404), (method, path, status)
        ro_mine = Api(client, api.key).ok("GET", "checks/")["checks"][0]
        assert ro_mine["uuid"] == uuid
        # Unique keys of my checks mean nothing to another project.
        from chalicelib.check_json import unique_key

        assert theirs_ro.call("GET", f"checks/{unique_key(uuid)}").status_code == 404
        assert theirs_ro.call("GET", f"checks/{unique_key(uuid)}/flips/").status_code == 404
        assert theirs.ok("GET", "checks/")["checks"] == []
        assert theirs.ok("GET", "checks/?slug=&tag=secret")["checks"] == []
        assert list(theirs.ok("GET", "badges/")["badges"]) == ["*"]
        # My check is untouched.
        after = api.ok("GET", f"checks/{uuid}")
        assert (after["name"], after["status"], after["n_pings"]) == ("mine", "up", 1)
        assert unique is not None

    def test_ping_key_of_another_project_cannot_reach_a_slug(
        self, client: Any, api: Api, project: Any, other: Any
    ) -> None:
        api.create(slug="backup")
        assert client.http.get(f"/ping/{other.ping_key}/backup").status_code == 404
        assert client.http.get(f"/ping/{project.ping_key}/backup").status_code == 200

    def test_badges_of_another_project(self, client: Any, api: Api, other: Any) -> None:
        api.create(tags="secret")
        urls = api.ok("GET", "badges/")["badges"]["secret"]
        path = urls["svg"].split("/badge/", 1)[1]
        key, sig, tag = path.split("/")
        # Their badge key with my signature, or my key with a forged one: 404.
        their_key = Api(client, other.api_key).ok("GET", "badges/")["badges"]["*"]["svg"]
        their_key = their_key.split("/badge/", 1)[1].split("/")[0]
        assert client.http.get(f"/badge/{their_key}/{sig}/{tag}").status_code == 404
        assert client.http.get(f"/badge/{key}/AAAAAAAA/{tag}").status_code == 404


class TestSlugPings:
    @pytest.fixture
    def ping_key(self, project: Any) -> str:
        return str(project.ping_key)

    @pytest.mark.parametrize("suffix", ["", "/start", "/fail", "/log", "/0", "/3"])
    def test_slug_forms(self, client: Any, api: Api, ping_key: str, suffix: str) -> None:
        check = api.create(slug="db-backup")
        reply = client.http.get(f"/ping/{ping_key}/db-backup{suffix}")
        assert (reply.status_code, reply.body) == (200, b"OK")
        assert api.ok("GET", f"checks/{check['uuid']}")["n_pings"] == 1

    def test_errors(self, client: Any, api: Api, ping_key: str) -> None:
        api.create(slug="twin")
        api.create(slug="twin")
        cases = [
            (f"/ping/{ping_key}/twin", 409, b"ambiguous slug"),
            (f"/ping/{ping_key}/Twin", 400, b"invalid url format"),
            (f"/ping/{ping_key}/twin/256", 400, b"invalid url format"),
            (f"/ping/{ping_key}/nobody", 404, b"not found"),
            (f"/ping/{'z' * 22}/twin", 404, b"not found"),
            (f"/ping/{ping_key}/twin/nope", 404, b"not found"),
            (f"/ping/{ping_key}/nobody?rid=bad", 404, b"not found"),
        ]
        for path, status, text in cases:
            reply = client.http.get(path)
            assert (reply.status_code, reply.body) == (status, text), path

    def test_auto_provision(self, client: Any, api: Api, ping_key: str) -> None:
        reply = client.http.get(f"/ping/{ping_key}/brand-new?create=1")
        assert (reply.status_code, reply.body) == (201, b"Created")
        again = client.http.get(f"/ping/{ping_key}/brand-new?create=1")
        assert (again.status_code, again.body) == (200, b"OK")
        (check,) = api.ok("GET", "checks/?slug=brand-new")["checks"]
        assert (check["name"], check["timeout"], check["grace"], check["n_pings"]) == (
            "brand-new",
            86400,
            3600,
            2,
        )

    def test_rename_resolves_at_once(self, client: Any, api: Api, ping_key: str) -> None:
        check = api.create(slug="old")
        api.ok("POST", f"checks/{check['uuid']}", {"slug": "new"})
        assert client.http.get(f"/ping/{ping_key}/old").status_code == 404
        assert client.http.get(f"/ping/{ping_key}/new").status_code == 200
        api.ok("DELETE", f"checks/{check['uuid']}")
        assert client.http.get(f"/ping/{ping_key}/new").status_code == 404


class TestClassification:
    def kinds(self, api: Api, check: dict[str, Any]) -> list[str]:
        return [
            p["type"] for p in reversed(api.ok("GET", f"checks/{check['uuid']}/pings/")["pings"])
        ]

    def post(self, api: Api, check: dict[str, Any], suffix: str, body: bytes) -> None:
        api.client.http.post(
            f"/ping/{check['uuid']}{suffix}", headers={"Content-Type": "text/plain"}, body=body
        )

    def test_keywords_override_the_url(self, api: Api) -> None:
        check = api.create(
            filter_http_body=True, start_kw="BEGIN", success_kw="OK, PASS", failure_kw="ERROR"
        )
        self.post(api, check, "", b"it said BEGIN")
        self.post(api, check, "/fail", b"all PASS")
        self.post(api, check, "", b"ERROR: disk")
        self.post(api, check, "/log", b"nothing")
        assert self.kinds(api, check) == ["start", "success", "fail", "ign"]
        assert api.ok("GET", f"checks/{check['uuid']}")["status"] == "down"

    def test_default_fail(self, api: Api) -> None:
        check = api.create(filter_http_body=True, success_kw="yay", filter_default_fail=True)
        self.post(api, check, "", b"meh")
        assert self.kinds(api, check) == ["fail"]

    def test_keywords_are_case_sensitive_substrings(self, api: Api) -> None:
        check = api.create(filter_http_body=True, failure_kw="Error")
        self.post(api, check, "", b"error")
        assert self.kinds(api, check) == ["ign"]

    def test_post_only(self, api: Api) -> None:
        check = api.create(methods="POST")
        api.client.http.get(f"/ping/{check['uuid']}")
        self.post(api, check, "", b"")
        assert self.kinds(api, check) == ["ign", "success"]

    def test_manual_resume(self, api: Api) -> None:
        check = api.create(manual_resume=True)
        api.client.http.get(f"/ping/{check['uuid']}")
        api.ok("POST", f"checks/{check['uuid']}/pause")
        api.client.http.get(f"/ping/{check['uuid']}")
        assert api.ok("GET", f"checks/{check['uuid']}")["status"] == "paused"
        assert self.kinds(api, check) == ["success", "ign"]

    def test_log_never_changes_status(self, api: Api) -> None:
        check = api.create()
        api.client.http.get(f"/ping/{check['uuid']}/log")
        assert api.ok("GET", f"checks/{check['uuid']}")["status"] == "new"


class TestBadges:
    def test_badge_urls_and_states(self, client: Any, api: Api) -> None:
        up = api.create(tags="web")
        down = api.create(tags="db", grace=60)
        client.http.get(f"/ping/{up['uuid']}")
        client.http.get(f"/ping/{down['uuid']}/fail")
        badges = api.ok("GET", "badges/")["badges"]
        assert set(badges) == {"web", "db", "*"}
        assert set(badges["web"]) == {"svg", "svg3", "json", "json3", "shields", "shields3"}

        def fetch(url: str) -> Any:
            return client.http.get("/badge/" + url.split("/badge/", 1)[1])

        web_json = fetch(badges["web"]["json"])
        assert web_json.headers["Content-Type"] == "application/json"
        assert "no-cache" in web_json.headers["Cache-Control"]
        assert web_json.headers["Access-Control-Allow-Origin"] == "*"
        assert json.loads(web_json.body) == {"status": "up", "total": 1, "grace": 0, "down": 0}
        assert json.loads(fetch(badges["*"]["json3"]).body)["status"] == "down"
        shields = json.loads(fetch(badges["db"]["shields"]).body)
        assert shields == {
            "schemaVersion": 1,
            "label": "db",
            "message": "down",
            "color": "critical",
        }
        svg = fetch(badges["db"]["svg"])
        assert svg.headers["Content-Type"] == "image/svg+xml" and b"#e05d44" in svg.body
        assert fetch(badges["db"]["svg"].replace(".svg", ".png")).status_code == 404

    def test_late_shows_only_on_three_state_badges(self, client: Any, api: Api) -> None:
        with time_machine.travel(T0, tick=False) as clock:
            check = api.create(tags="t", timeout=60, grace=600)
            client.http.get(f"/ping/{check['uuid']}")
            clock.move_to(T0 + timedelta(seconds=61))
            badges = api.ok("GET", "badges/")["badges"]["t"]
            three = json.loads(
                client.http.get("/badge/" + badges["json3"].split("/badge/")[1]).body
            )
            two = json.loads(client.http.get("/badge/" + badges["json"].split("/badge/")[1]).body)
            per_check = json.loads(
                client.http.get(
                    check["badge_url"]
                    .split("127.0.0.1")[-1]
                    .split("localhost")[-1]
                    .replace("/b/2/", "/b/3/")
                    .replace(".svg", ".json")
                ).body
            )
        assert (three["status"], two["status"], per_check["status"]) == ("late", "up", "late")


class TestRetention:
    def test_listing_never_exceeds_the_ping_log_limit(
        self, api: Api, deps: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from dataclasses import replace

        monkeypatch.setattr(deps, "settings", replace(deps.settings, ping_log_limit=5))
        check = api.create()
        for _ in range(12):
            api.client.http.get(f"/ping/{check['uuid']}")
        pings = api.ok("GET", f"checks/{check['uuid']}/pings/")["pings"]
        assert [p["n"] for p in pings] == [12, 11, 10, 9, 8]

    def test_the_log_is_a_ring_that_never_grows_past_its_limit(self, deps: Any, api: Api) -> None:
        from dataclasses import replace

        import boto3

        from chalicelib import service
        from chalicelib.domain import Ping

        deps.settings = replace(deps.settings, ping_log_limit=10)
        deps.store.ping_log_limit = 10
        check = api.create()
        for i in range(1, 101):
            service.record_ping(deps, check["uuid"], Ping("log", body=b"x" * (i % 3 * 40)), T0)
        partition = boto3.client("dynamodb").query(
            TableName=deps.settings.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"CHECK#{check['uuid']}"}},
        )["Items"]
        # Page slots (2 + what 10 pings need) and body slots, overwritten in place: no deletes.
        from chalicelib.items import PAGE_PINGS, page_slots

        kinds = sorted({i["sk"]["S"].split("#")[0] for i in partition})
        assert kinds == ["BODY", "CHECK", "LOG"]
        assert sum(i["sk"]["S"].startswith("LOG#") for i in partition) == page_slots(10)
        bodies = sum(i["sk"]["S"].startswith("BODY#") for i in partition)
        assert bodies <= page_slots(10) * PAGE_PINGS
        pings = api.ok("GET", f"checks/{check['uuid']}/pings/")["pings"]
        assert [p["n"] for p in pings] == list(range(100, 90, -1))
        for p in pings:
            has_body = p["n"] % 3 != 0
            assert (p["body_url"] is not None) == has_body
        body = api.client.http.get(
            f"/api/v3/checks/{check['uuid']}/pings/98/body",
            headers={"X-Api-Key": api.key},
        )
        assert (body.status_code, body.body) == (200, b"x" * 80)

    def test_a_raised_log_limit_keeps_every_ping_and_body_it_kept(
        self, deps: Any, api: Api
    ) -> None:
        from dataclasses import replace

        from chalicelib import items, service
        from chalicelib.domain import Ping

        deps.settings = replace(deps.settings, ping_log_limit=10)
        deps.store.ping_log_limit = 10
        check = api.create()
        for i in range(1, 31):
            service.record_ping(deps, check["uuid"], Ping("log", body=b"%03d" % i * 20), T0)
        deps.settings = replace(deps.settings, ping_log_limit=30)  # a larger ring from now on
        deps.store.ping_log_limit = 30
        assert items.page_slots(30) != items.page_slots(10)
        pings = api.ok("GET", f"checks/{check['uuid']}/pings/")["pings"]
        assert {p["n"] for p in pings} >= set(range(21, 31))
        for number in (21, 22, 25, 30):
            body = api.client.http.get(
                f"/api/v3/checks/{check['uuid']}/pings/{number}/body",
                headers={"X-Api-Key": api.key},
            )
            assert (body.status_code, body.body) == (200, b"%03d" % number * 20)

    def test_flips_older_than_93_days_are_not_listed(self, api: Api) -> None:
        check = api.create()
        with time_machine.travel(T0, tick=False) as clock:
            api.client.http.get(f"/ping/{check['uuid']}")
            clock.move_to(T0 + timedelta(days=94))
            api.client.http.get(f"/ping/{check['uuid']}/fail")
            flips = api.ok("GET", f"checks/{check['uuid']}/flips/")["flips"]
            assert [f["up"] for f in flips] == [0]


class TestLimitsAndHealth:
    @pytest.fixture
    def limited(self, deps: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from dataclasses import replace

        monkeypatch.setattr(deps, "settings", replace(deps.settings, check_limit=2))

    def test_create_over_the_check_limit_is_an_empty_403(self, api: Api, limited: None) -> None:
        api.create()
        api.create()
        reply = api.call("POST", "checks/", {"name": "third"})
        assert (reply.status_code, reply.body) == (403, b"")
        assert len(api.ok("GET", "checks/")["checks"]) == 2
        # An upsert that matches an existing check is an update, not a new check.
        api.ok("POST", "checks/", {"name": "", "tags": "x", "unique": ["name"]})

    def test_auto_provisioning_stops_at_twice_the_limit(
        self, client: Any, api: Api, project: Any, limited: None
    ) -> None:
        api.create()
        api.create()
        for slug in ("a", "b"):
            assert client.http.get(f"/ping/{project.ping_key}/{slug}?create=1").status_code == 201
        reply = client.http.get(f"/ping/{project.ping_key}/c?create=1")
        assert (reply.status_code, reply.body) == (404, b"not found")

    def test_status_is_500_when_the_table_does_not_answer(
        self, api: Api, deps: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def down() -> None:
            raise RuntimeError("DynamoDB unreachable")

        monkeypatch.setattr(deps.store, "ping", down)
        assert api.client.http.get("/api/v3/status/").status_code == 500


class TestUnexpectedErrors:
    """Anything unexpected, a broken configuration included, is a bare, logged, counted 500."""

    def test_a_config_error_is_a_bare_500_on_every_kind_of_route(
        self, api: Api, deps: Any, project: Any, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from chalicelib.errors import ConfigError

        def broken(*args: Any) -> None:
            raise ConfigError("VIGIL_SECRET_THING is not set")

        for method in ("ping", "get_check", "resolve_badge"):
            monkeypatch.setattr(deps.store, method, broken)
        replies = [
            api.client.http.get("/api/v3/status/"),
            api.client.http.get("/ping/0d6f2a0e-3c1b-4b7e-9a55-2f4c8e1d7b90"),
            api.client.http.get("/b/2/0d6f2a0e-3c1b-4b7e-9a55-2f4c8e1d7b90.svg"),
        ]
        assert [r.status_code for r in replies] == [500, 500, 500]
        assert json.loads(replies[0].body) == {"error": "internal error"}
        assert [r.body for r in replies[1:]] == [b"internal error", b"internal error"]

    def test_it_is_logged_with_the_request_id_and_counted(
        self, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from chalicelib import metrics, web
        from chalicelib.errors import ConfigError

        counted: list[str] = []
        monkeypatch.setattr(metrics, "count", lambda name, *a, **k: counted.append(name))
        request = web.request_id({"requestId": "c0ffee-42"})
        reply = web.api_error(ConfigError("VIGIL_TABLE is not set"), request=request)
        assert (reply.status_code, json.loads(reply.body)) == (500, {"error": "internal error"})
        assert counted == [metrics.INTERNAL_ERRORS]
        (record,) = [r for r in caplog.records if r.levelname == "ERROR"]
        assert "c0ffee-42" in record.getMessage() and record.exc_info is not None
        assert "VIGIL_TABLE is not set" not in reply.body
