"""One attempt end to end with the I/O injected, the idempotency key, and the local log line."""

from __future__ import annotations

import json

from chalicelib.channels.delivery import Delivered, Failed, HttpReply, NetworkError, Retry
from chalicelib.channels.message import OutboundRequest, SnsMessage
from chalicelib.channels.notify import attempt, attempt_line, delivery_key
from tests import channel_samples as samples

SLACK = {"kind": "slack", "url": "https://hooks.slack.com/services/x"}
SNS = {"kind": "sns", "topic_arn": "arn:aws:sns:us-east-1:123456789012:t", "format": "chatbot"}


def test_an_http_channel_goes_through_send_http_and_is_classified() -> None:
    sent: list[OutboundRequest] = []

    def send_http(request: OutboundRequest) -> HttpReply:
        sent.append(request)
        return HttpReply(200)

    def no_sns(message: SnsMessage) -> HttpReply:
        raise AssertionError("not an SNS channel")

    verdict = attempt(SLACK, samples.down(), samples.T0, send_http=send_http, publish_sns=no_sns)
    assert verdict == Delivered(200)
    assert [r.url for r in sent] == [SLACK["url"]]
    assert json.loads(sent[0].body)["blocks"][0]["type"] == "header"


def test_an_sns_channel_goes_through_publish_sns() -> None:
    published: list[SnsMessage] = []

    def publish(message: SnsMessage) -> NetworkError:
        published.append(message)
        return NetworkError("throttled")

    def no_http(request: OutboundRequest) -> HttpReply:
        raise AssertionError("not an HTTP channel")

    verdict = attempt(SNS, samples.down(), samples.T0, send_http=no_http, publish_sns=publish)
    assert verdict == Retry("network error: throttled")
    assert json.loads(published[0].message)["source"] == "custom"


def test_a_broken_channel_fails_alone_without_any_io() -> None:
    def never(_: object) -> HttpReply:
        raise AssertionError("no I/O for a broken channel")

    verdict = attempt(
        {"kind": "slack"}, samples.down(), samples.T0, send_http=never, publish_sns=never
    )
    assert verdict == Failed("channel misconfigured: slack channel has no url")


def test_the_delivery_key_separates_channels_flips_and_reminders() -> None:
    assert delivery_key("c1", samples.down()) == "c1:flip-1:0"
    assert delivery_key("c1", samples.reminder()) == "c1:flip-1:2"
    assert delivery_key("c2", samples.down()) == "c2:flip-1:0"
    assert delivery_key("c1", samples.up()) == "c1:flip-2:0"
    assert delivery_key("c1", samples.strange()) == "c1::0"


def test_the_local_log_line_names_the_alert_channel_and_result() -> None:
    line = attempt_line("ops", "slack", samples.down(), Delivered(200), 1)
    assert line == "  -> slack 'ops' attempt 1: DOWN flip=flip-1 delivered (HTTP 200)"
    line = attempt_line("pd", "pagerduty", samples.up(), Retry("HTTP 503"), 3)
    assert line == "  -> pagerduty 'pd' attempt 3: UP flip=flip-2 will retry: HTTP 503"
    line = attempt_line("x", "webhook", samples.strange(), Failed("HTTP 404"), 1)
    assert line == "  -> webhook 'x' attempt 1: PAUSED flip=? failed for good: HTTP 404"
