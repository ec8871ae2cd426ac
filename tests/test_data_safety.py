"""Data safety: a malformed check item is skipped, and a DELETE racing a ping leaves nothing.

Both on moto, with fixed times and no sleeps: the race is forced by running the DELETE at the
exact point between the ping's two writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from chalicelib import metrics, service
from chalicelib.domain import Ping
from chalicelib.spec import CheckSpec
from tests.conftest import T0, read_alerts

MINUTE = timedelta(minutes=1)


def new_check(deps: Any, project: Any, **fields: Any) -> Any:
    grant = service.authorize(deps, project.api_key, write=True)
    spec = CheckSpec(**{"timeout": 60, "grace": 60, **fields})
    return service.create_check(deps, grant, spec, T0, "http://vigil.test")


def corrupt(deps: Any, check_uuid: str, update: str, values: dict[str, Any] | None = None) -> None:
    kwargs = {"ExpressionAttributeValues": values} if values else {}
    boto3.client("dynamodb").update_item(
        TableName=deps.settings.table,
        Key={"pk": {"S": f"CHECK#{check_uuid}"}, "sk": {"S": "CHECK"}},
        UpdateExpression=update,
        **kwargs,
    )


@pytest.fixture
def lines() -> Iterator[list[dict[str, Any]]]:
    captured: list[dict[str, Any]] = []
    metrics.reset()
    metrics.set_sink(lambda line: captured.append(json.loads(line)))
    yield captured
    metrics.set_sink(None)
    metrics.reset()


def malformed_counted(lines: list[dict[str, Any]]) -> float:
    metrics.flush()
    return sum(line.get(metrics.MALFORMED_ITEMS, 0) for line in lines)


BREAKAGES = [
    ("REMOVE created", None),
    ("SET created = :bad", {":bad": {"N": "17"}}),
    ("SET n_pings = :bad", {":bad": {"S": "many"}}),
    ("SET runs = :bad", {":bad": {"S": "none"}}),
]


class TestMalformedItems:
    @pytest.mark.parametrize(("update", "values"), BREAKAGES)
    def test_a_sweep_skips_a_malformed_check_and_alerts_the_rest(
        self,
        deps: Any,
        project: Any,
        aws: dict[str, str],
        lines: list[dict[str, Any]],
        caplog: pytest.LogCaptureFixture,
        update: str,
        values: dict[str, Any] | None,
    ) -> None:
        checks = [new_check(deps, project, name=f"job-{i}") for i in range(3)]
        for check in checks:
            service.record_ping(deps, check.uuid, Ping("success"), T0)
        corrupt(deps, checks[1].uuid, update, values)
        metrics.reset()

        report = service.sweep(deps, T0 + 5 * MINUTE)

        assert report.flipped == 2
        alerted = {a["document"]["check"]["uuid"] for a in read_alerts(aws["queue_url"])}
        assert alerted == {checks[0].uuid, checks[2].uuid}
        assert malformed_counted(lines) == 1
        assert f"CHECK#{checks[1].uuid}" in caplog.text and "cannot be read" in caplog.text

    @pytest.mark.parametrize(("update", "values"), BREAKAGES)
    def test_a_listing_skips_a_malformed_check(
        self,
        client: Any,
        deps: Any,
        project: Any,
        lines: list[dict[str, Any]],
        caplog: pytest.LogCaptureFixture,
        update: str,
        values: dict[str, Any] | None,
    ) -> None:
        checks = [new_check(deps, project, name=f"job-{i}") for i in range(3)]
        corrupt(deps, checks[0].uuid, update, values)
        metrics.reset()

        reply = client.http.get("/api/v3/checks/", headers={"X-Api-Key": project.api_key})

        assert reply.status_code == 200, reply.body
        names = sorted(c["name"] for c in json.loads(reply.body)["checks"])
        assert names == ["job-1", "job-2"]
        assert malformed_counted(lines) == 1
        assert "cannot be read" in caplog.text
