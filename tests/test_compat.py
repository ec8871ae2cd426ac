"""Issue 8, sections A, C and D: Healthchecks to the byte, no bad input through, cheap badges.

Each test here failed before the fix it names (A1-A6, C9-C12, D13-D14).
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from chalicelib.domain import Check, Flip, LoggedPing, Ping
from tests.conftest import T0
from tests.test_api import Api

BINARY = bytes(range(256)) * 3
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def api(client: Any, project: Any) -> Api:
    return Api(client, project.api_key)


def _flips(api: Api, code: str, query: str = "") -> Any:
    return api.ok("GET", f"checks/{code}/flips/{query}")


# --- A. Compatibility with the Healthchecks server ---------------------------------------


class TestFlipsShape:
    def test_flips_answer_an_object_with_a_flips_list(self, api: Api) -> None:
        check = api.create()
        api.client.http.get(f"/ping/{check['uuid']}/fail")
        doc = _flips(api, check["uuid"])
        assert list(doc) == ["flips"]
        assert [flip["up"] for flip in doc["flips"]] == [0]


class TestBodyBytes:
    def _ping_binary(self, api: Api) -> str:
        check = api.create()
        reply = api.client.http.post(f"/ping/{check['uuid']}", headers=OCTETS, body=BINARY)
        assert reply.status_code == 200
        return str(check["uuid"])

    def test_binary_body_comes_back_byte_for_byte(self, api: Api) -> None:
        code = self._ping_binary(api)
        reply = api.client.http.get(
            f"/api/v3/checks/{code}/pings/1/body",
            headers={"X-Api-Key": api.key, "Accept": "application/octet-stream"},
        )
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == "application/octet-stream"
        assert reply.body == BINARY[:10000]

    def test_utf8_body_stays_text_plain_as_in_healthchecks(self, api: Api) -> None:
        check = api.create()
        text = "résumé ✓ done\n".encode()
        api.client.http.post(f"/ping/{check['uuid']}", headers=OCTETS, body=text)
        reply = api.client.http.get(
            f"/api/v3/checks/{check['uuid']}/pings/1/body", headers={"X-Api-Key": api.key}
        )
        assert (reply.status_code, reply.body) == (200, text)
        assert reply.headers["Content-Type"].startswith("text/plain")

    def test_binary_body_without_a_matching_accept_is_a_clear_406(self, api: Api) -> None:
        code = self._ping_binary(api)
        reply = api.client.http.get(
            f"/api/v3/checks/{code}/pings/1/body",
            headers={"X-Api-Key": api.key, "Accept": "text/plain"},
        )
        assert reply.status_code == 406
        assert b"Accept: application/octet-stream" in reply.body

    def test_through_api_gateway_the_body_is_base64_for_binary_media_types(
        self, api: Api, client: Any
    ) -> None:
        """The Lambda proxy event and answer API Gateway exchanges with the function."""
        from app import app

        code = self._ping_binary(api)
        event = _proxy_event(
            "/api/{version}/checks/{code}/pings/{number}/body",
            f"/api/v3/checks/{code}/pings/1/body",
            {"version": "v3", "code": code, "number": "1"},
            {"x-api-key": api.key, "accept": "application/octet-stream"},
        )
        answer = app(event, _Context())
        assert answer["statusCode"] == 200
        assert answer["isBase64Encoded"] is True
        assert base64.b64decode(answer["body"]) == BINARY[:10000]
        # What `chalice deploy` / `make package` gives API Gateway: the media types it
        # converts between base64 and bytes (for request bodies and Accept headers).
        from chalice.deploy.swagger import SwaggerGenerator

        handler = {"api_handler_arn": "arn:aws:lambda:us-east-1:123456789012:function:vigil"}
        swagger = SwaggerGenerator("us-east-1", handler).generate_swagger(app)
        assert "application/octet-stream" in swagger["x-amazon-apigateway-binary-media-types"]
        assert "*/*" not in swagger["x-amazon-apigateway-binary-media-types"]  # traps.md §1

    def test_base64_request_body_from_api_gateway_is_logged_raw(
        self, api: Api, client: Any
    ) -> None:
        from app import app

        check = api.create()
        event = _proxy_event(
            "/ping/{code}",
            f"/ping/{check['uuid']}",
            {"code": check["uuid"]},
            {"content-type": "application/octet-stream"},
            method="POST",
            body=base64.b64encode(BINARY).decode(),
        )
        assert app(event, _Context())["statusCode"] == 200
        body = api.client.http.get(
            f"/api/v3/checks/{check['uuid']}/pings/1/body",
            headers={"X-Api-Key": api.key, "Accept": "*/*"},
        )
        assert body.body == BINARY[:10000]


class _Context:
    function_name = "vigil"
    aws_request_id = "test"
    log_group_name = log_stream_name = "test"
    memory_limit_in_mb = 128

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def _proxy_event(
    resource: str,
    path: str,
    params: dict[str, str],
    headers: dict[str, str],
    *,
    method: str = "GET",
    body: str | None = None,
) -> dict[str, Any]:
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "stage": "api",
            "identity": {"sourceIp": "203.0.113.9"},
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
        },
        "body": body,
        "isBase64Encoded": body is not None,
    }


class TestUniqueKeyIsReadOnly:
    @pytest.mark.parametrize(
        ("method", "suffix"),
        [("POST", ""), ("DELETE", ""), ("POST", "/pause"), ("POST", "/resume")],
    )
    def test_writes_by_unique_key_are_405(
        self, api: Api, client: Any, project: Any, method: str, suffix: str
    ) -> None:
        check = api.create(name="keep")
        ro = Api(client, project.api_key_readonly)
        unique = ro.ok("GET", f"checks/{check['uuid']}")["unique_key"]
        reply = api.call(method, f"checks/{unique}{suffix}", {"name": "changed"})
        assert reply.status_code == 405
        after = api.ok("GET", f"checks/{check['uuid']}")
        assert (after["name"], after["status"]) == ("keep", "new")


class TestFilterSubject:
    def test_explicit_filter_subject_wins_on_create(self, api: Api) -> None:
        check = api.create(subject="SUCCESS", filter_subject=False)
        assert (check["success_kw"], check["filter_subject"]) == ("SUCCESS", False)

    def test_explicit_filter_subject_wins_on_update(self, api: Api) -> None:
        check = api.create()
        body = {"subject_fail": "", "filter_subject": True}
        updated = api.ok("POST", f"checks/{check['uuid']}", body)
        assert updated["filter_subject"] is True

    def test_implied_filter_subject_counts_both_keywords(self, api: Api) -> None:
        check = api.create(subject_fail="FAIL")
        updated = api.ok("POST", f"checks/{check['uuid']}", {"subject": ""})
        assert (updated["filter_subject"], updated["subject_fail"]) == (True, "FAIL")


class TestLegacyTimeZones:
    @pytest.mark.parametrize(
        ("legacy", "canonical"),
        [
            ("UCT", "Etc/UTC"),
            ("CET", "Europe/Brussels"),
            ("Africa/Asmera", "Africa/Nairobi"),
            ("Europe/Kiev", "Europe/Kyiv"),
            ("US/Pacific", "America/Los_Angeles"),
            ("Asia/Rangoon", "Asia/Yangon"),
        ],
    )
    def test_legacy_names_map_as_healthchecks_maps_them(
        self, api: Api, legacy: str, canonical: str
    ) -> None:
        check = api.create(schedule="0 3 * * *", tz=legacy)
        assert check["tz"] == canonical

    @pytest.mark.parametrize("zone", ["Europe/Oslo", "Asia/Kolkata", "America/New_York"])
    def test_current_zones_that_tzdata_links_are_kept_as_given(self, api: Api, zone: str) -> None:
        # tzdata 2023+ links Oslo to Berlin; Healthchecks keeps it, and so must Vigil.
        assert api.create(schedule="0 3 * * *", tz=zone)["tz"] == zone

    def test_the_table_is_healthchecks_table(self) -> None:
        from zoneinfo import ZoneInfo

        from chalicelib.tzlinks import LEGACY_ZONES

        # hc/lib/tz.py legacy_timezones: 113 entries, every target a loadable zone.
        assert len(LEGACY_ZONES) == 113
        assert {"UCT", "CET", "Zulu", "US/Pacific", "W-SU"} <= LEGACY_ZONES.keys()
        assert "Europe/Oslo" not in LEGACY_ZONES and "UTC" not in LEGACY_ZONES
        for target in LEGACY_ZONES.values():
            assert ZoneInfo(target).key == target

    def test_utc_stays_utc(self, api: Api) -> None:
        assert api.create(schedule="0 3 * * *", tz="UTC")["tz"] == "UTC"


class TestBadgePreflight:
    def test_options_on_badge_urls_is_204_with_cors(self, api: Api, client: Any) -> None:
        check = api.create(tags="prod")
        urls = api.ok("GET", "badges/")["badges"]["prod"]
        paths = [urls["svg"], urls["json3"], check["badge_url"]]
        for url in paths:
            path = "/" + url.split("//", 1)[1].split("/", 1)[1]
            reply = client.http.request("OPTIONS", path, headers={"Origin": "https://x.example"})
            assert reply.status_code == 204, path
            assert reply.headers["Access-Control-Allow-Origin"] == "*"


# --- C. Every bad input is a clear 4xx ---------------------------------------------------


class TestBadInputWithoutKey:
    def test_deeply_nested_json(self, client: Any) -> None:
        reply = client.http.post(
            "/api/v3/checks/", headers={"Content-Type": "application/json"}, body=b"[" * 100_000
        )
        assert (reply.status_code, json.loads(reply.body)) == (
            400,
            {"error": "could not parse request body"},
        )

    def test_api_key_in_body_that_cannot_be_encoded(self, client: Any) -> None:
        body = json.dumps({"api_key": "\ud800" * 32, "name": "x"}).encode()
        reply = client.http.post("/api/v3/checks/", body=body)
        assert (reply.status_code, json.loads(reply.body)) == (401, {"error": "wrong api key"})

    def test_a_json_number_thousands_of_digits_long(self, client: Any) -> None:
        body = b'{"timeout": ' + b"9" * 5000 + b"}"
        reply = client.http.post("/api/v3/checks/", body=body)
        assert (reply.status_code, json.loads(reply.body)) == (
            400,
            {"error": "could not parse request body"},
        )

    def test_exit_status_thousands_of_digits_long(self, api: Api) -> None:
        check = api.create()
        reply = api.client.http.get(f"/ping/{check['uuid']}/{'9' * 5000}")
        assert (reply.status_code, reply.body) == (400, b"invalid url format")
        padded = api.client.http.get(f"/ping/{check['uuid']}/{'0' * 5000}1")
        assert padded.status_code == 200  # Django's int converter: leading zeros are fine
        assert api.ok("GET", f"checks/{check['uuid']}")["status"] == "down"


class TestBadInputWithKey:
    def test_desc_longer_than_the_limit(self, api: Api) -> None:
        from chalicelib.spec import MAX_DESC_LENGTH

        assert api.create(desc="x" * MAX_DESC_LENGTH)["desc"] == "x" * MAX_DESC_LENGTH
        reply = api.call("POST", "checks/", {"timeout": 60, "desc": "x" * (MAX_DESC_LENGTH + 1)})
        assert (reply.status_code, json.loads(reply.body)) == (
            400,
            {"error": "json validation error: desc is too long"},
        )

    def test_a_check_bigger_than_the_item_limit(self, api: Api) -> None:
        from chalicelib.spec import MAX_DESC_LENGTH

        # 4 bytes per character: within the desc limit, beyond the whole check's.
        before = api.ok("GET", "checks/")["checks"]
        reply = api.call("POST", "checks/", {"timeout": 60, "desc": "😀" * MAX_DESC_LENGTH})
        assert (reply.status_code, json.loads(reply.body)) == (
            400,
            {"error": "json validation error: check is too large"},
        )
        assert api.ok("GET", "checks/")["checks"] == before  # nothing half-written
        check = api.create(name="keep")
        update = api.call("POST", f"checks/{check['uuid']}", {"desc": "😀" * MAX_DESC_LENGTH})
        assert update.status_code == 400
        assert api.ok("GET", f"checks/{check['uuid']}")["desc"] == ""

    @pytest.mark.parametrize(
        "field", ["name", "slug", "tags", "desc", "schedule", "tz", "success_kw", "channels"]
    )
    def test_lone_surrogates_in_any_string(self, api: Api, field: str) -> None:
        reply = api.call("POST", "checks/", {"timeout": 60, field: "a\udc80b"})
        assert reply.status_code == 400
        assert json.loads(reply.body)["error"].startswith(f"json validation error: {field} ")
        assert api.ok("GET", "checks/")["checks"] == []

    @pytest.mark.parametrize(
        "query",
        ["seconds=²", "start=١٢", "end=𝟗", "seconds=" + "9" * 5000, "start=" + "1" * 5000],
    )
    def test_odd_digits_in_flip_filters(self, api: Api, query: str) -> None:
        check = api.create()
        reply = api.call("GET", f"checks/{check['uuid']}/flips/?{query}")
        assert reply.status_code == 400, reply.body

    @pytest.mark.parametrize("number", ["²", "١", "9" * 5000])
    def test_odd_digits_in_the_body_path(self, api: Api, number: str) -> None:
        check = api.create()
        api.client.http.post(f"/ping/{check['uuid']}", headers=OCTETS, body=b"x")
        assert api.call("GET", f"checks/{check['uuid']}/pings/{number}/body").status_code == 404

    def test_create_with_an_over_long_slug(self, api: Api, client: Any, project: Any) -> None:
        slug = "a" * 101
        reply = client.http.get(f"/ping/{project.ping_key}/{slug}?create=1")
        assert (reply.status_code, reply.body) == (400, b"invalid url format")
        assert api.ok("GET", "checks/")["checks"] == []
        longest = "b" * 100
        made = client.http.get(f"/ping/{project.ping_key}/{longest}?create=1")
        assert made.status_code == 201
        assert [c["slug"] for c in api.ok("GET", "checks/")["checks"]] == [longest]


class TestWholeStringPatterns:
    def test_slug_with_a_trailing_newline(self, api: Api) -> None:
        reply = api.call("POST", "checks/", {"timeout": 60, "slug": "backups\n"})
        error = {"error": "json validation error: slug does not match pattern"}
        assert (reply.status_code, json.loads(reply.body)) == (400, error)

    def test_rid_with_a_trailing_newline(self, api: Api) -> None:
        check = api.create()
        rid = "5a0d3d2e-0c5e-4b4e-9a0b-9d8f8e7c6b5a%0A"
        reply = api.client.http.get(f"/ping/{check['uuid']}/start?rid={rid}")
        assert (reply.status_code, reply.body) == (400, b"invalid uuid format")

    def test_ping_path_segments_with_a_trailing_newline(self, api: Api, project: Any) -> None:
        from chalicelib import web
        from chalicelib.errors import NotFound

        check = api.create(slug="backups")
        with pytest.raises(NotFound):
            web.parse_ping_path(project.ping_key, "backups\n")
        with pytest.raises(NotFound):
            web.parse_ping_path(check["uuid"] + "\n", None)
        with pytest.raises(NotFound):
            web.parse_ping_path(check["uuid"], "7\n")  # not exit status 7


class TestControlCharacters:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("name", "ok\nDOWN: prod-db"),
            ("tags", "prod\rdb"),
            ("name", "a\x1b[2Jb"),
            ("tags", "a\u2028b"),
            ("name", "a\x85b"),
        ],
    )
    def test_rejected_in_names_and_tags(self, api: Api, field: str, value: str) -> None:
        reply = api.call("POST", "checks/", {"timeout": 60, field: value})
        assert (reply.status_code, json.loads(reply.body)) == (
            400,
            {"error": f"json validation error: {field} contains control characters"},
        )

    def test_desc_keeps_its_newlines(self, api: Api) -> None:
        assert api.create(desc="line one\nline two\ttab")["desc"] == "line one\nline two\ttab"

    def test_email_text_cannot_be_forged(self) -> None:
        from chalicelib.alerts import email_text

        check = Check(
            uuid="0c8f9d5a-5b1e-4e1b-9d7a-2f7f3e1c9b10",
            project="p",
            created=T0,
            name="web\nWhat happened: nothing, all is well",
            tags="prod\r\nCheck: https://evil.example",
        )
        flip = Flip(id="f", at=T0, old="up", new="down", reason="timeout", lease=T0)
        ping = Ping(action="success", ua="curl\n\nFlip id: forged", remote_addr="1.2.3.4\x1b[31m")
        logged = LoggedPing(n=1, at=T0, kind="success", ping=ping)
        text = email_text(check, flip, logged)
        starts = [line.split(":")[0] for line in text.splitlines()]
        assert starts.count("What happened") == 1
        assert starts.count("Check") == 1
        assert starts.count("Flip id") == 1
        assert "\x1b" not in text and "\r" not in text
        assert "web\\nWhat happened" in text

    def test_svg_badge_stays_well_formed(self) -> None:
        from xml.etree import ElementTree

        from chalicelib.badges import svg

        document = svg("a\x00b\x1b<&>\ufffe", "up")
        root = ElementTree.fromstring(document)
        assert "ab<&>" in "".join(root.itertext())


# --- D. Privacy and cost of public URLs --------------------------------------------------


class TestBadgePrivacy:
    def _label(self, client: Any, check: dict[str, Any]) -> str:
        path = "/" + check["badge_url"].split("//", 1)[1].split("/", 1)[1]
        shields = client.http.get(path.replace(".svg", ".shields"))
        return str(json.loads(shields.body)["label"])

    def test_unnamed_check_badge_shows_slug_not_uuid(self, api: Api, client: Any) -> None:
        check = api.create(slug="nightly")
        assert self._label(client, check) == "nightly"
        svg = client.http.get("/" + check["badge_url"].split("//", 1)[1].split("/", 1)[1])
        assert check["uuid"].encode() not in svg.body

    def test_nameless_slugless_check_is_unnamed(self, api: Api, client: Any) -> None:
        assert self._label(client, api.create()) == "unnamed"


class _ReadCounter:
    """DynamoDB items read (what read units are billed by) and read calls, via botocore."""

    def __init__(self, deps: Any) -> None:
        self.items = self.calls = 0
        deps.store.client.meta.events.register("after-call.dynamodb.*", self._count)

    def _count(self, model: Any, parsed: dict[str, Any], **_: Any) -> None:
        read = 0
        if model.name == "GetItem":
            read = int("Item" in parsed)
        elif model.name in ("Query", "Scan"):
            read = int(parsed.get("ScannedCount", parsed.get("Count", 0)))
        elif model.name == "BatchGetItem":
            read = sum(len(found) for found in parsed.get("Responses", {}).values())
        else:
            return
        self.calls += 1
        self.items += read

    def reset(self) -> None:
        self.items = self.calls = 0


class TestBadgeCost:
    def _badge_path(self, api: Api, tag: str) -> str:
        url = api.ok("GET", "badges/")["badges"][tag]["json3"]
        return "/" + url.split("//", 1)[1].split("/", 1)[1]

    @pytest.mark.parametrize("n_checks", [3, 40])
    def test_anonymous_badge_requests_cost_constant_reads(
        self, api: Api, client: Any, deps: Any, n_checks: int
    ) -> None:
        for index in range(n_checks):
            api.create(name=f"c{index}", tags="prod" if index % 2 else "dev")
        paths = [self._badge_path(api, "prod"), self._badge_path(api, "*")]
        counter = _ReadCounter(deps)
        with time_machine.travel(T0, tick=False):
            client.http.get(paths[0])  # the one request per cache period that reads the checks
            counter.reset()
            for _ in range(10):
                for path in paths:
                    assert client.http.get(path).status_code == 200
        # Resolving the badge key and the project: two GetItems, whatever the project holds.
        assert (counter.calls, counter.items) == (2 * 20, 2 * 20)

    def test_a_cached_badge_still_goes_late_and_refreshes(self, api: Api, client: Any) -> None:
        check = api.create(tags="prod", timeout=60, grace=60)
        path = self._badge_path(api, "prod")
        with time_machine.travel(T0, tick=False) as clock:
            client.http.get(f"/ping/{check['uuid']}")
            assert json.loads(client.http.get(path).body)["status"] == "up"
            clock.move_to(T0 + timedelta(seconds=90))  # late by the cached deadlines
            assert json.loads(client.http.get(path).body)["status"] == "late"
            client.http.get(f"/ping/{check['uuid']}/fail")
            clock.move_to(T0 + timedelta(seconds=90 + 61))  # past the cache period: re-read
            assert json.loads(client.http.get(path).body)["status"] == "down"
