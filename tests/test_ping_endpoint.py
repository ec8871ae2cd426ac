"""``VIGIL_PING_ENDPOINT``: the ping base every check's ``ping_url`` names (Healthchecks'
PING_ENDPOINT). Deployed, it is the function URL's ``/ping/``, the cheap door; unset, the
check JSON names ``<site root>/ping/`` exactly as before."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from chalicelib.alerts import email_text
from chalicelib.domain import Check, Flip
from chalicelib.errors import ConfigError
from chalicelib.settings import Settings
from tests.conftest import T0, read_alerts
from tests.test_app import create, get, sweep

ENDPOINT = "https://abcdefghij.lambda-url.eu-west-1.on.aws/ping/"
REQUIRED = {"VIGIL_TABLE": "t", "VIGIL_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:t"}


def endpoint_of(environ: dict[str, str]) -> str | None:
    return Settings.from_env({**REQUIRED, **environ}).ping_endpoint


def test_the_setting_is_read_and_always_ends_in_a_slash() -> None:
    assert endpoint_of({}) is None
    assert endpoint_of({"VIGIL_PING_ENDPOINT": "  "}) is None
    assert endpoint_of({"VIGIL_PING_ENDPOINT": ENDPOINT}) == ENDPOINT
    # ping_url is endpoint + uuid: a missing slash would give ".../ping<uuid>".
    assert endpoint_of({"VIGIL_PING_ENDPOINT": ENDPOINT.rstrip("/")}) == ENDPOINT


@pytest.mark.parametrize("value", ["abcdefghij.lambda-url.eu-west-1.on.aws/ping/", "ftp://x/"])
def test_an_endpoint_that_is_not_an_http_url_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError, match="VIGIL_PING_ENDPOINT"):
        endpoint_of({"VIGIL_PING_ENDPOINT": value})


@pytest.fixture
def with_endpoint(deps: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The deployment's endpoint set, as the environment would set it."""
    monkeypatch.setattr(deps, "settings", replace(deps.settings, ping_endpoint=ENDPOINT))
    return ENDPOINT


def test_without_the_setting_the_ping_url_is_the_site_s_as_before(
    client: Any, project: Any
) -> None:
    check = create(client, project.api_key, name="a", timeout=3600)
    assert check["ping_url"] == f"http://localhost/ping/{check['uuid']}"
    assert check["update_url"] == f"http://localhost/api/v3/checks/{check['uuid']}"


def test_every_check_s_ping_url_follows_the_endpoint_and_nothing_else_does(
    client: Any, project: Any, deps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = create(client, project.api_key, name="made-before", timeout=3600)
    monkeypatch.setattr(deps, "settings", replace(deps.settings, ping_endpoint=ENDPOINT))
    after = create(client, project.api_key, name="made-after", slug="nightly", timeout=3600)
    # Not stored per check: a check made before the endpoint was set follows it too.
    assert get(client, project.api_key, before["uuid"])["ping_url"] == ENDPOINT + before["uuid"]
    assert after["ping_url"] == ENDPOINT + after["uuid"]
    listed = client.http.get("/api/v3/checks/", headers={"X-Api-Key": project.api_key})
    urls = {c["name"]: c["ping_url"] for c in json.loads(listed.body)["checks"]}
    assert urls == {
        "made-before": ENDPOINT + before["uuid"],
        "made-after": ENDPOINT + after["uuid"],
    }
    # The Management API's own URLs stay on the site that serves it.
    assert after["update_url"] == f"http://localhost/api/v3/checks/{after['uuid']}"
    assert after["badge_url"].startswith("http://localhost/b/2/")
    # And the old ping URL still records: the REST ping routes keep working.
    assert client.http.get(f"/ping/{before['uuid']}").body == b"OK"
    monkeypatch.setattr(deps, "settings", replace(deps.settings, ping_endpoint=None))
    assert get(client, project.api_key, after["uuid"])["ping_url"].startswith("http://localhost/")


def test_a_read_only_key_still_gets_no_ping_url(
    client: Any, project: Any, with_endpoint: str
) -> None:
    check = create(client, project.api_key, name="a", timeout=3600)
    code = get(client, project.api_key, check["uuid"])["uuid"]
    listed = client.http.get("/api/v3/checks/", headers={"X-Api-Key": project.api_key_readonly})
    (doc,) = json.loads(listed.body)["checks"]
    assert code and "ping_url" not in doc


def test_the_alert_document_names_the_same_ping_url_as_the_api(
    client: Any, project: Any, aws: dict[str, str], with_endpoint: str
) -> None:
    with time_machine.travel(T0, tick=False) as clock:
        check = create(client, project.api_key, name="nightly", timeout=60, grace=60)
        client.http.get(f"/ping/{check['uuid']}")
        clock.move_to(T0 + timedelta(seconds=120))
        sweep(client)  # the sweeper's alert
        (down,) = read_alerts(aws["queue_url"])
        client.http.get(f"/ping/{check['uuid']}")  # the ping's own alert (up)
        (up,) = read_alerts(aws["queue_url"])
    expected = get(client, project.api_key, check["uuid"])["ping_url"]
    assert expected == ENDPOINT + check["uuid"]
    assert down["document"]["check"]["ping_url"] == expected
    assert up["document"]["check"]["ping_url"] == expected


def test_the_alert_email_names_the_endpoint_when_set() -> None:
    check = Check(uuid="0c8f9d5a-5b1e-4e1b-9d7a-2f7f3e1c9b10", project="p", created=T0)
    check = replace(check, site_root="https://api.example")
    flip = Flip(id="f", at=T0, old="up", new="down", reason="timeout", lease=T0)
    assert f"Ping URL: {ENDPOINT}{check.uuid}" in email_text(check, flip, None, ENDPOINT)
    plain = email_text(check, flip, None)
    assert f"Ping URL: https://api.example/ping/{check.uuid}" in plain
    assert f"Check: https://api.example/api/v3/checks/{check.uuid}" in plain
