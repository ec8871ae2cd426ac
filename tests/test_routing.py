"""Per-check routing: Healthchecks' ``channels`` values resolved to ids, and read back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain import Check
from chalicelib.errors import BadRequest
from chalicelib.routing import Named, resolve, routed_ids, topic_channel_id, without

TOPIC = Named("t-id", "vigil-alerts")
OPS = Named("ops-id", "ops")
TWIN_A, TWIN_B = Named("a-id", "twin"), Named("b-id", "twin")
ALL = [TOPIC, OPS, TWIN_A, TWIN_B]


def check(**fields: object) -> Check:
    return Check(uuid="u", project="p", created=datetime(2026, 3, 2, tzinfo=UTC), **fields)  # type: ignore[arg-type]


def test_star_is_every_channel_and_empty_is_none() -> None:
    assert resolve("*", ALL) == "t-id,ops-id,a-id,b-id"
    assert resolve(" * ", ALL) == "t-id,ops-id,a-id,b-id"
    assert resolve("", ALL) == ""


def test_names_and_ids_resolve_in_order_once_each() -> None:
    assert resolve("ops, t-id ,ops,a-id", ALL) == "ops-id,t-id,a-id"


def test_an_id_wins_over_a_name_that_looks_like_it() -> None:
    tricky = [Named("x", "ops-id"), OPS]
    assert resolve("ops-id", tricky) == "ops-id"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("nope", "invalid channel identifier: nope"),
        ("ops,nope", "invalid channel identifier: nope"),
        ("twin", "non-unique channel identifier: twin"),
        ("ops,,t-id", "empty channel identifier"),
    ],
)
def test_unknown_ambiguous_or_empty_identifiers_are_400(value: str, error: str) -> None:
    with pytest.raises(BadRequest) as raised:
        resolve(value, ALL)
    assert raised.value.message == error


def test_checks_from_before_channels_route_to_the_topic_if_alerts_were_on() -> None:
    assert routed_ids(check(), "t-id") == ["t-id"]
    assert routed_ids(check(alerts_enabled=False), "t-id") == []
    assert routed_ids(check(channel_ids="ops-id,a-id"), "t-id") == ["ops-id", "a-id"]
    assert routed_ids(check(channel_ids=""), "t-id") == []


def test_removing_a_channel_keeps_the_others_and_ignores_unrouted_checks() -> None:
    assert without(check(channel_ids="ops-id,a-id"), "ops-id", "t-id") == "a-id"
    assert without(check(), "t-id", "t-id") == ""
    assert without(check(channel_ids="a-id"), "ops-id", "t-id") is None


def test_the_topic_channel_id_is_stable_per_topic() -> None:
    arn = "arn:aws:sns:us-east-1:123456789012:vigil-alerts"
    assert topic_channel_id(arn) == topic_channel_id(arn)
    assert topic_channel_id(arn) != topic_channel_id(arn + "-2")
