"""Every alert is deliverable whatever its check holds (design guarantee 9).

SNS refuses a Publish over 256 KB (message plus attributes; with ``MessageStructure=json`` every
protocol's copy counts). moto checks only the message's characters, so these tests measure what
botocore actually sends, through its own event hooks, and hold it to the limit.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest

from chalicelib import sns, sweeps
from chalicelib.alerts import Alert
from chalicelib.domain import Check, Flip, LoggedPing, Ping
from chalicelib.items import check_to_item
from tests.conftest import T0, read_alerts

MINUTE = timedelta(minutes=1)
SNS_LIMIT_BYTES = 262_144  # "256 KB (262,144 bytes)", the SNS Publish API reference
CHECK_UUID = "0d6f2a0e-3c1b-4b7e-9a55-2f4c8e1d7b90"
# Each filler is one character that costs the most somewhere: plain, JSON-escaped twice,
# non-ASCII (escaped \\uXXXX, 7 bytes), astral (a surrogate pair, 14 bytes), a control char.
FILLERS = ["x", '"', "é", "😀", "\x01"]


class PublishMeter:
    """Measures each Publish botocore sends: its parameters and its HTTP body."""

    def __init__(self, client: Any) -> None:
        self.sizes: list[int] = []  # what SNS counts: message, subject, attributes
        self.wire: list[int] = []  # the URL-encoded request body
        client.meta.events.register("provide-client-params.sns.Publish", self._params)
        client.meta.events.register("before-send.sns.Publish", self._request)

    def _params(self, params: dict[str, Any], **_: Any) -> None:
        size = len(params["Message"].encode()) + len(params.get("Subject", "").encode())
        for name, attribute in params.get("MessageAttributes", {}).items():
            size += len(name.encode()) + sum(len(v.encode()) for v in attribute.values())
        self.sizes.append(size)

    def _request(self, request: Any, **_: Any) -> None:
        body = request.body
        self.wire.append(len(body if isinstance(body, bytes) else body.encode()))


def maximal_check(filler: str) -> Check:
    """A check with every free-text field far beyond any limit the API sets.

    As large as a DynamoDB item can hold (400 KB) with the widest filler: a 46,000-character desc.
    """
    return Check(
        uuid=CHECK_UUID,
        project="5b1f6a3e-8d2c-4e9f-a7b0-1c3d5e7f9a2b",
        created=T0,
        name=filler * 5_000,
        slug="s" * 5_000,
        tags=" ".join(f"tag{i}-{filler * 40}" for i in range(400)),
        desc=filler * 46_000,
        start_kw=filler * 3_000,
        success_kw=filler * 3_000,
        failure_kw=filler * 3_000,
        filter_subject=True,  # the keywords are then shown twice more (subject, subject_fail)
        site_root="https://" + "h" * 10_000,
        status="up",
        n_pings=1,
        last_ping=T0,
        timeout=60,
        grace=60,
        runs={f"{i:08d}-0000-4000-8000-000000000000": T0 for i in range(50)},
    )


def maximal_ping(filler: str) -> LoggedPing:
    ping = Ping("success", ua=filler * 10_000, remote_addr="r" * 1_000, body=b"\xff" * 10_000)
    return LoggedPing(1, T0, "success", ping)


@pytest.fixture
def meter(deps: Any) -> PublishMeter:
    sns = boto3.client("sns")
    deps.alerter.target._client = sns
    return PublishMeter(sns)


@pytest.mark.parametrize("filler", FILLERS)
def test_a_maximal_check_alerts_within_the_sns_limit(
    deps: Any, aws: dict[str, str], meter: PublishMeter, filler: str
) -> None:
    check = maximal_check(filler)
    boto3.client("dynamodb").put_item(
        TableName=deps.settings.table, Item=check_to_item(check, deps.settings.due_shards)
    )
    stored = deps.store.get_check(CHECK_UUID)
    deps.store.write_ping(stored, stored, "success", maximal_ping(filler).ping, T0)

    report = sweeps.sweep(deps, T0 + 5 * MINUTE)

    assert (report.flipped, report.alerts_delivered, report.alerts_failed) == (1, 1, 0)
    (size,), (wire,) = meter.sizes, meter.wire
    assert size <= wire < SNS_LIMIT_BYTES
    print(f"alert: {size:,} B as SNS counts it, {wire:,} B on the wire")
    (alert,) = read_alerts(aws["queue_url"])
    document = alert["document"]
    assert document["check"]["uuid"] == CHECK_UUID
    assert document["event"] == "down" and document["flip"]["id"]
    # Long fields are cut with a marker that says so, and still start with what was there.
    assert document["check"]["desc"].startswith(filler * 10)
    assert "more characters cut]" in document["check"]["desc"]
    assert "more bytes cut]" in document["last_ping"]["body"]
    # Filter policies still see real tags: whole tags, never the marker.
    tags = json.loads(alert["MessageAttributes"]["tags"]["Value"])
    assert tags and all(t.startswith("tag") and "cut]" not in t for t in tags)
    assert tags == check.tag_list[: len(tags)]


def test_a_plain_alert_is_not_cut(deps: Any) -> None:
    check = replace(maximal_check("x"), name="nightly", desc="d" * 3_000, tags="a b", slug="")
    check = replace(check, start_kw="", success_kw="", failure_kw="", site_root="https://v.test")
    ping = LoggedPing(1, T0, "fail", Ping("fail", body=b"disk full"))
    flip = Flip("f", T0, "up", "down", "fail", T0)
    alert = sns.sns_message(Alert(check, flip, ping))
    assert alert.document["check"]["desc"] == "d" * 3_000
    assert alert.document["last_ping"]["body"] == "disk full"
    assert "cut]" not in alert.message


def test_the_machine_document_is_carried_once(deps: Any) -> None:
    flip = Flip("f", T0, "up", "down", "timeout", T0)
    alert = sns.sns_message(Alert(maximal_check("x"), flip, maximal_ping("x")))
    envelope = json.loads(alert.message)
    # SNS gives protocols without a key of their own (sqs, lambda, http(s), email-json) the default.
    assert sorted(envelope) == ["default", "email", "sms"]
    assert json.loads(envelope["default"]) == alert.document
    assert sns.published_size(alert) <= sns.ALERT_BUDGET_BYTES
