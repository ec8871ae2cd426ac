"""Channel creation bodies: each kind's fields, Healthchecks-style 400 texts, secrets named."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.channels import kinds
from chalicelib.channels.config import parse_channel_spec
from chalicelib.errors import ValidationFailed
from tests import channel_samples as samples

HOOK = "https://hooks.slack.com/services/T0/B0/XYZ"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:team-alerts"


def parse(body: dict[str, Any], **kwargs: Any) -> Any:
    return parse_channel_spec(body, new_secret=lambda: "generated-secret-0123456789", **kwargs)


@pytest.mark.parametrize(
    ("body", "config", "secrets"),
    [
        (
            {"kind": "webhook", "url": "https://example.com/h"},
            {"url": "https://example.com/h", "secret": "generated-secret-0123456789"},
            ("url", "secret"),
        ),
        (
            {"kind": "webhook", "url": "https://example.com/h", "secret": "s" * 16},
            {"url": "https://example.com/h", "secret": "s" * 16},
            ("url", "secret"),
        ),
        ({"kind": "slack", "url": HOOK}, {"url": HOOK}, ("url",)),
        ({"kind": "msteams", "url": HOOK}, {"url": HOOK}, ("url",)),
        ({"kind": "discord", "url": HOOK}, {"url": HOOK}, ("url",)),
        (
            {"kind": "pagerduty", "routing_key": "R" * 32},
            {"routing_key": "R" * 32},
            ("routing_key",),
        ),
        (
            {"kind": "opsgenie", "api_key": "k", "region": "eu", "url": "https://og.example"},
            {"api_key": "k", "region": "eu", "url": "https://og.example"},
            ("api_key",),
        ),
        ({"kind": "opsgenie", "api_key": "k"}, {"api_key": "k", "region": "us"}, ("api_key",)),
        ({"kind": "sns", "topic_arn": TOPIC}, {"topic_arn": TOPIC, "format": "vigil"}, ()),
        (
            {"kind": "sns", "topic_arn": TOPIC, "format": "chatbot", "extra": 1},
            {"topic_arn": TOPIC, "format": "chatbot"},
            (),
        ),
    ],
)
def test_each_kind_parses_to_what_its_builder_needs(
    body: dict[str, Any], config: dict[str, str], secrets: tuple[str, ...]
) -> None:
    spec = parse({"name": "ops", **body})
    assert (spec.name, spec.kind, spec.config, spec.secret_fields) == (
        "ops",
        body["kind"],
        config,
        secrets,
    )
    kinds.build_delivery(spec.channel(), samples.down(), samples.T0)  # and it builds


def test_a_generated_webhook_secret_is_reported_once_a_given_one_is_not() -> None:
    generated = parse({"kind": "webhook", "url": "https://example.com/h"})
    assert generated.generated_secret == "generated-secret-0123456789"
    given = parse({"kind": "webhook", "url": "https://example.com/h", "secret": "x" * 20})
    assert given.generated_secret is None
    real = parse_channel_spec({"kind": "webhook", "url": "https://example.com/h"})
    assert real.generated_secret is not None and len(real.generated_secret) >= 32


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "kind is missing"),
        ({"kind": "fax"}, "kind has unexpected value"),
        ({"kind": "slack"}, "url is missing"),
        ({"kind": "slack", "url": 7}, "url is not a string"),
        ({"kind": "slack", "url": " "}, "url is empty"),
        ({"kind": "slack", "url": "https://x/" + "a" * 3000}, "url is too long"),
        ({"kind": "slack", "url": "ftp://x"}, "url is not allowed: only http:// and https://"),
        ({"kind": "slack", "url": "http://10.0.0.1/"}, "url is not allowed: 10.0.0.1 is a private"),
        (
            {"kind": "webhook", "url": "http://169.254.169.254/"},
            "url is not allowed: 169.254.169.254 is a cloud metadata address",
        ),
        (
            {"kind": "webhook", "url": "http://localhost:8080/"},
            "url is not allowed: localhost is a loopback address",
        ),
        ({"kind": "webhook", "url": "https://e.com", "secret": "short"}, "secret is too short"),
        ({"kind": "pagerduty", "routing_key": "abc"}, "routing_key is not 32 characters"),
        ({"kind": "pagerduty"}, "routing_key is missing"),
        ({"kind": "opsgenie", "api_key": "k", "region": "ap"}, "region has unexpected value"),
        ({"kind": "opsgenie", "api_key": ""}, "api_key is empty"),
        ({"kind": "sns", "topic_arn": "arn:aws:sqs:x"}, "topic_arn is not an SNS topic ARN"),
        ({"kind": "sns", "topic_arn": TOPIC, "format": "xml"}, "format has unexpected value"),
        ({"kind": "slack", "url": HOOK, "name": 5}, "name is not a string"),
        ({"kind": "slack", "url": HOOK, "name": "n" * 101}, "name is too long"),
    ],
)
def test_bad_bodies_get_healthchecks_style_errors(body: dict[str, Any], error: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        parse(body)
    assert str(failed.value).startswith(f"json validation error: {error}")


def test_the_local_stack_may_name_loopback_urls() -> None:
    spec = parse({"kind": "webhook", "url": "http://127.0.0.1:9000/h"}, allow_loopback=True)
    assert spec.config["url"] == "http://127.0.0.1:9000/h"
    spec = parse({"kind": "slack", "url": "http://localhost:9000/h"}, allow_loopback=True)
    assert spec.config["url"] == "http://localhost:9000/h"
    with pytest.raises(ValidationFailed):
        parse({"kind": "slack", "url": "http://10.0.0.1/"}, allow_loopback=True)
