"""Each kind's request, validated field by field against the vendor's documented schema.

The validators below restate the vendor docs cited in each builder module (required fields,
types, enums, limits). Every builder runs over every sample document, including a hostile one
whose user fields are huge and full of markup, and a document from a newer Vigil.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from chalicelib.channels import kinds
from chalicelib.channels.chatbot import build_sns
from chalicelib.channels.discord import build_discord
from chalicelib.channels.message import OutboundRequest
from chalicelib.channels.msteams import build_msteams
from chalicelib.channels.opsgenie import build_opsgenie
from chalicelib.channels.pagerduty import build_pagerduty
from chalicelib.channels.slack import build_slack
from chalicelib.channels.webhook import build_webhook, verify_signature
from tests import channel_samples as samples

HOOK = "https://hooks.example.com/x"
ROUTING_KEY = "R" * 32
DOCS = pytest.mark.parametrize("name", sorted(samples.ALL))


def body_of(request: OutboundRequest) -> dict[str, Any]:
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    doc = json.loads(request.body)
    assert isinstance(doc, dict)
    return doc


def all_strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in all_strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in all_strings(value)]
    return []


def is_iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# --- Slack ---------------------------------------------------------------------------------


def check_slack_text(obj: dict[str, Any], limit: int, kinds_allowed: set[str]) -> None:
    assert set(obj) <= {"type", "text", "emoji", "verbatim"}
    assert obj["type"] in kinds_allowed
    assert isinstance(obj["text"], str) and 1 <= len(obj["text"]) <= limit


def validate_slack(doc: dict[str, Any]) -> None:
    assert set(doc) == {"text", "blocks"}
    assert isinstance(doc["text"], str) and 1 <= len(doc["text"]) <= 4000
    assert 1 <= len(doc["blocks"]) <= 50
    for block in doc["blocks"]:
        if block["type"] == "header":
            assert set(block) == {"type", "text"}
            check_slack_text(block["text"], 150, {"plain_text"})
        elif block["type"] == "section":
            assert set(block) in ({"type", "text"}, {"type", "fields"})
            if "text" in block:
                check_slack_text(block["text"], 3000, {"plain_text", "mrkdwn"})
            else:
                assert 1 <= len(block["fields"]) <= 10
                for field in block["fields"]:
                    check_slack_text(field, 2000, {"plain_text", "mrkdwn"})
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                check_slack_text(element, 3000, {"plain_text", "mrkdwn"})
        else:
            pytest.fail(f"unexpected block {block['type']}")


def slack_mrkdwn(doc: dict[str, Any]) -> list[str]:
    texts = [doc["text"]]
    for block in doc["blocks"]:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if obj and obj["type"] == "mrkdwn":
                texts.append(obj["text"])
    return texts


@DOCS
def test_slack_matches_block_kit(name: str) -> None:
    validate_slack(body_of(build_slack(HOOK, samples.ALL[name]())))


def test_slack_down_reads_at_a_glance() -> None:
    request = build_slack(HOOK, samples.down())
    assert request.url == HOOK
    doc = body_of(request)
    assert doc["blocks"][0]["text"]["text"] == "🔴 DOWN: nightly-backup"
    assert doc["text"] == (
        "DOWN: nightly-backup: Missed: no ping arrived by its deadline plus grace."
    )
    rendered = "\n".join(slack_mrkdwn(doc))
    for fact in (
        "*Expected*\n2026-03-02 11:50:00 UTC (grace 10 min)",
        "*When*\n2026-03-02 12:00:00 UTC",
        "*Last ping:* #12 success at 2026-03-01 11:50:00 UTC from 203.0.113.7",
        "```\nbackup started\nbackup finished: 42 GB\n```",
        f"<{samples.SITE}/api/v3/checks/{samples.UUID}|Check>",
    ):
        assert fact in rendered


def test_slack_user_text_cannot_mention_or_link() -> None:
    doc = body_of(build_slack(HOOK, samples.hostile()))
    for mrkdwn in slack_mrkdwn(doc):
        # Only our own <url|label> links may open an angle bracket.
        stripped = mrkdwn
        for _, url in (("c", f"{samples.SITE}/api/v3/checks/{samples.UUID}"),):
            stripped = stripped.replace(f"<{url}|", "")
        assert "<!channel>" not in stripped and "<@U123>" not in stripped
        assert "<https://evil" not in stripped
    ping_section = next(t for t in slack_mrkdwn(doc) if t.startswith("*Last ping:*"))
    assert ping_section.count("```") == 2  # the body cannot close our code block


# --- Microsoft Teams -----------------------------------------------------------------------


def validate_card_element(element: dict[str, Any]) -> None:
    if element["type"] == "TextBlock":
        assert isinstance(element["text"], str) and element["text"]
        assert element["wrap"] is True
        assert element.get("size", "Default") in {
            "Small",
            "Default",
            "Medium",
            "Large",
            "ExtraLarge",
        }
        assert element.get("weight", "Default") in {"Lighter", "Default", "Bolder"}
        assert element.get("color", "Default") in {
            "Default",
            "Dark",
            "Light",
            "Accent",
            "Good",
            "Warning",
            "Attention",
        }
        assert element.get("fontType", "Default") in {"Default", "Monospace"}
    elif element["type"] == "Container":
        assert element["items"]
        for item in element["items"]:
            assert item["type"] == "TextBlock" and item.get("spacing") == "None"
            validate_card_element(item)
    elif element["type"] == "FactSet":
        assert element["facts"]
        for fact in element["facts"]:
            assert set(fact) == {"title", "value"}
            assert all(isinstance(fact[key], str) and fact[key] for key in fact)
    else:
        pytest.fail(f"unexpected element {element['type']}")


def validate_msteams(doc: dict[str, Any], raw: bytes) -> None:
    assert len(raw) <= 28 * 1024
    assert doc["type"] == "message"
    assert len(doc["attachments"]) == 1
    attachment = doc["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.4"
    for element in card["body"]:
        validate_card_element(element)
    for action in card.get("actions", []):
        assert action["type"] == "Action.OpenUrl"
        assert action["title"] and action["url"].startswith("https://")


@DOCS
def test_msteams_matches_adaptive_card_schema(name: str) -> None:
    request = build_msteams(HOOK, samples.ALL[name]())
    validate_msteams(body_of(request), request.body)


def test_msteams_down_card_shows_the_facts() -> None:
    card = body_of(build_msteams(HOOK, samples.down()))["attachments"][0]["content"]
    assert card["body"][0] == {
        "type": "TextBlock",
        "text": "DOWN: nightly-backup",
        "wrap": True,
        "size": "Large",
        "weight": "Bolder",
        "color": "Attention",
    }
    facts = {fact["title"]: fact["value"] for fact in card["body"][2]["facts"]}
    assert facts["Expected"] == "2026-03-02 11:50:00 UTC (grace 10 min)"
    output = card["body"][-1]
    assert output["type"] == "Container"
    assert [item["text"] for item in output["items"]] == [
        "backup started",
        "backup finished: 42 GB",
    ]
    assert {item["fontType"] for item in output["items"]} == {"Monospace"}
    assert [a["title"] for a in card["actions"]] == ["Check", "Ping URL", "Badge"]


def test_msteams_user_markdown_is_escaped() -> None:
    card = body_of(build_msteams(HOOK, samples.hostile()))["attachments"][0]["content"]
    title = card["body"][0]["text"]
    assert "\\*bold\\*" in title and "\\[x\\](https://evil.example)" in title


# --- Discord -------------------------------------------------------------------------------


def validate_discord(doc: dict[str, Any]) -> None:
    assert set(doc) == {"username", "embeds", "allowed_mentions"}
    assert doc["allowed_mentions"] == {"parse": []}
    assert 1 <= len(doc["embeds"]) <= 10
    embed = doc["embeds"][0]
    assert 1 <= len(embed["title"]) <= 256
    assert 1 <= len(embed["description"]) <= 4096
    assert 0 <= embed["color"] <= 0xFFFFFF
    assert len(embed["fields"]) <= 25
    for field in embed["fields"]:
        assert 1 <= len(field["name"]) <= 256
        assert 1 <= len(field["value"]) <= 1024
        assert isinstance(field["inline"], bool)
    assert len(embed["footer"]["text"]) <= 2048
    if "timestamp" in embed:
        assert is_iso(embed["timestamp"])
    if "url" in embed:
        assert embed["url"].startswith("https://")
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000


@DOCS
def test_discord_matches_the_embed_limits(name: str) -> None:
    validate_discord(body_of(build_discord(HOOK, samples.ALL[name]())))


def test_discord_down_embed() -> None:
    embed = body_of(build_discord(HOOK, samples.down()))["embeds"][0]
    assert embed["title"] == "DOWN: nightly-backup"
    assert embed["color"] == 0xD0021B
    assert embed["timestamp"] == "2026-03-02T12:00:00+00:00"
    assert embed["description"] == (
        "Missed: no ping arrived by its deadline plus grace.\n"
        "```\nbackup started\nbackup finished: 42 GB\n```"
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Expected"] == "2026-03-02 11:50:00 UTC (grace 10 min)"
    assert fields["Links"].startswith(f"[Check]({samples.SITE}/api/v3/checks/{samples.UUID})")


def test_discord_user_text_cannot_ping_or_format() -> None:
    doc = body_of(build_discord(HOOK, samples.hostile()))
    assert doc["allowed_mentions"] == {"parse": []}
    embed = doc["embeds"][0]
    assert embed["description"].count("```") == 2
    assert embed["title"].startswith(
        "DOWN: \\<!channel\\> @everyone \\<@U123\\> \\*bold\\* \\_it\\_"
    )
    assert "[x](https://evil" not in embed["title"]  # in the description it sits in code


# --- PagerDuty -----------------------------------------------------------------------------


def validate_pagerduty(doc: dict[str, Any]) -> None:
    assert doc["routing_key"] == ROUTING_KEY
    assert doc["event_action"] in {"trigger", "acknowledge", "resolve"}
    assert isinstance(doc["dedup_key"], str) and 1 <= len(doc["dedup_key"]) <= 255
    if doc["event_action"] != "trigger":
        assert set(doc) == {"routing_key", "event_action", "dedup_key"}
        return
    assert set(doc) <= {
        "routing_key",
        "event_action",
        "dedup_key",
        "payload",
        "client",
        "client_url",
        "links",
        "images",
    }
    payload = doc["payload"]
    assert set(payload) <= {
        "summary",
        "source",
        "severity",
        "timestamp",
        "component",
        "group",
        "class",
        "custom_details",
    }
    assert 1 <= len(payload["summary"]) <= 1024
    assert payload["source"]
    assert payload["severity"] in {"critical", "error", "warning", "info"}
    if "timestamp" in payload:
        assert is_iso(payload["timestamp"])
    assert isinstance(payload["custom_details"], dict)
    for link in doc.get("links", []):
        assert set(link) == {"href", "text"} and link["href"].startswith("https://")
    assert len(json.dumps(doc).encode()) <= 512 * 1024


@DOCS
def test_pagerduty_matches_events_v2(name: str) -> None:
    request = build_pagerduty(ROUTING_KEY, samples.ALL[name]())
    assert request.url == "https://events.pagerduty.com/v2/enqueue"
    validate_pagerduty(body_of(request))


def test_pagerduty_trigger_and_resolve_share_the_check_uuid() -> None:
    trigger = body_of(build_pagerduty(ROUTING_KEY, samples.down()))
    resolve = body_of(build_pagerduty(ROUTING_KEY, samples.up()))
    reminder = body_of(build_pagerduty(ROUTING_KEY, samples.reminder()))
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert reminder["event_action"] == "trigger"
    assert trigger["dedup_key"] == resolve["dedup_key"] == reminder["dedup_key"] == samples.UUID
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["summary"] == (
        "DOWN: nightly-backup: Missed: no ping arrived by its deadline plus grace."
    )
    assert trigger["payload"]["custom_details"]["last ping body (tail)"].endswith("42 GB")


def test_pagerduty_url_can_be_overridden() -> None:
    request = build_pagerduty(
        ROUTING_KEY, samples.down(), "https://events.eu.pagerduty.com/v2/enqueue"
    )
    assert request.url == "https://events.eu.pagerduty.com/v2/enqueue"


# --- Opsgenie ------------------------------------------------------------------------------


def validate_opsgenie_create(doc: dict[str, Any]) -> None:
    assert 1 <= len(doc["message"]) <= 130
    assert 1 <= len(doc["alias"]) <= 512
    assert len(doc["description"]) <= 15000
    assert len(doc["tags"]) <= 20 and all(1 <= len(tag) <= 50 for tag in doc["tags"])
    assert all(isinstance(v, str) for v in doc["details"].values())
    assert sum(len(k) + len(v) for k, v in doc["details"].items()) <= 8000
    assert 1 <= len(doc["entity"]) <= 512
    assert 1 <= len(doc["source"]) <= 100
    assert doc["priority"] in {"P1", "P2", "P3", "P4", "P5"}


@DOCS
def test_opsgenie_matches_the_alert_api(name: str) -> None:
    request = build_opsgenie("key-1", samples.ALL[name]())
    assert request.headers["Authorization"] == "GenieKey key-1"
    doc = body_of(request)
    if request.url.endswith("/close?identifierType=alias"):
        assert set(doc) <= {"user", "source", "note"} and len(doc["note"]) <= 25000
    else:
        assert request.url == "https://api.opsgenie.com/v2/alerts"
        validate_opsgenie_create(doc)


def test_opsgenie_create_and_close_share_the_alias() -> None:
    create = build_opsgenie("k", samples.down(), region="eu")
    close = build_opsgenie("k", samples.up(), region="eu")
    assert create.url == "https://api.eu.opsgenie.com/v2/alerts"
    assert body_of(create)["alias"] == samples.UUID
    assert close.url == (
        f"https://api.eu.opsgenie.com/v2/alerts/{samples.UUID}/close?identifierType=alias"
    )
    assert body_of(close) == {
        "source": "Vigil",
        "note": "UP: nightly-backup: Recovered: a success ping arrived and the check is up again.",
    }


def test_opsgenie_base_url_overrides_the_region() -> None:
    request = build_opsgenie("k", samples.up(), url="https://opsgenie.internal.example/")
    assert request.url.startswith("https://opsgenie.internal.example/v2/alerts/")
    with pytest.raises(ValueError, match="region"):
        build_opsgenie("k", samples.down(), region="mars")
    with pytest.raises(ValueError, match="priority"):
        build_opsgenie("k", samples.down(), priority="P9")


def test_opsgenie_description_reads_at_a_glance() -> None:
    doc = body_of(build_opsgenie("k", samples.down()))
    assert doc["message"] == "DOWN: nightly-backup"
    assert doc["description"].splitlines()[:4] == [
        "Missed: no ping arrived by its deadline plus grace.",
        "",
        "When: 2026-03-02 12:00:00 UTC",
        "Expected: 2026-03-02 11:50:00 UTC (grace 10 min)",
    ]
    assert doc["tags"] == ["prod", "db"]


# --- SNS / AWS Chatbot ---------------------------------------------------------------------

TOPIC = "arn:aws:sns:us-east-1:123456789012:team"


def validate_chatbot(doc: dict[str, Any]) -> None:
    assert doc["version"] == "1.0"
    assert doc["source"] == "custom"
    assert isinstance(doc["id"], str)
    content = doc["content"]
    assert set(content) <= {"textType", "title", "description", "nextSteps", "keywords"}
    assert content["textType"] == "client-markdown"
    assert isinstance(content["title"], str) and isinstance(content["description"], str)
    assert all(isinstance(s, str) for s in content["nextSteps"] + content["keywords"])
    metadata = doc["metadata"]
    assert set(metadata) <= {
        "threadId",
        "summary",
        "eventType",
        "relatedResources",
        "additionalContext",
    }
    assert all(isinstance(v, str) for v in metadata["additionalContext"].values())


@DOCS
def test_chatbot_matches_the_custom_notification_schema(name: str) -> None:
    message = build_sns(TOPIC, "chatbot", samples.ALL[name]())
    assert message.topic_arn == TOPIC
    assert len(message.message.encode()) < 256 * 1024
    doc = json.loads(message.message)
    validate_chatbot(doc)
    assert "<" not in "".join(all_strings(doc["content"]))


def test_chatbot_threads_a_checks_alerts_together() -> None:
    down = json.loads(build_sns(TOPIC, "chatbot", samples.down()).message)
    up = json.loads(build_sns(TOPIC, "chatbot", samples.up()).message)
    assert down["metadata"]["threadId"] == up["metadata"]["threadId"] == samples.UUID
    assert down["content"]["title"] == ":red_circle: DOWN: nightly-backup"
    assert "*Expected:* 2026-03-02 11:50:00 UTC (grace 10 min)" in down["content"]["description"]


def test_sns_vigil_format_publishes_the_document_with_filter_attributes() -> None:
    document = samples.down()
    message = build_sns(TOPIC, "vigil", document)
    assert json.loads(message.message) == document
    assert message.subject == "DOWN: nightly-backup"
    assert message.attributes["event"] == {"DataType": "String", "StringValue": "down"}
    assert message.attributes["reason"]["StringValue"] == "timeout"
    assert message.attributes["check"]["StringValue"] == samples.UUID
    with pytest.raises(ValueError, match="format"):
        build_sns(TOPIC, "html", document)


# --- Signed webhooks -----------------------------------------------------------------------


def test_webhook_posts_the_alert_json_signed() -> None:
    document = samples.down()
    request = build_webhook(HOOK, "s3cret", document, samples.T0)
    assert json.loads(request.body) == document
    assert request.headers["X-Vigil-Timestamp"] == str(int(samples.T0.timestamp()))
    assert request.headers["X-Vigil-Signature"].startswith("sha256=")
    assert len(request.headers["X-Vigil-Signature"]) == len("sha256=") + 64
    assert request.headers["X-Vigil-Flip"] == "flip-1"
    assert request.headers["X-Vigil-Event"] == "down"


def test_the_signature_verifies_and_tampering_does_not() -> None:
    from datetime import timedelta

    request = build_webhook(HOOK, "s3cret", samples.down(), samples.T0)
    ts, sig = request.headers["X-Vigil-Timestamp"], request.headers["X-Vigil-Signature"]
    assert verify_signature("s3cret", ts, sig, request.body, samples.T0)
    assert verify_signature("s3cret", ts, sig, request.body, samples.T0 + timedelta(seconds=300))
    assert not verify_signature(
        "s3cret", ts, sig, request.body, samples.T0 + timedelta(seconds=301)
    )
    assert not verify_signature("other", ts, sig, request.body, samples.T0)
    assert not verify_signature("s3cret", ts, sig, request.body + b" ", samples.T0)
    assert not verify_signature("s3cret", str(int(ts) + 1), sig, request.body, samples.T0)
    assert not verify_signature("s3cret", "-1", sig, request.body, samples.T0)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    # The documented recipe, done by hand the way a receiver would.
    import hashlib
    import hmac

    request = build_webhook(HOOK, "k", samples.up(), samples.T0)
    ts = request.headers["X-Vigil-Timestamp"]
    expected = hmac.new(b"k", f"{ts}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Vigil-Signature"] == f"sha256={expected}"


# --- Dispatch ------------------------------------------------------------------------------

CHANNELS: dict[str, dict[str, Any]] = {
    "webhook": {"kind": "webhook", "url": HOOK, "secret": "s"},
    "slack": {"kind": "slack", "url": HOOK},
    "msteams": {"kind": "msteams", "url": HOOK},
    "discord": {"kind": "discord", "url": HOOK},
    "pagerduty": {"kind": "pagerduty", "routing_key": ROUTING_KEY},
    "opsgenie": {"kind": "opsgenie", "api_key": "k", "region": "eu"},
    "sns": {"kind": "sns", "topic_arn": TOPIC, "format": "chatbot"},
}
VALIDATORS: dict[str, Callable[[Any], object]] = {
    "slack": lambda r: validate_slack(body_of(r)),
    "msteams": lambda r: validate_msteams(body_of(r), r.body),
    "discord": lambda r: validate_discord(body_of(r)),
    "pagerduty": lambda r: validate_pagerduty(body_of(r)),
    "opsgenie": lambda r: validate_opsgenie_create(body_of(r)),
    "sns": lambda m: validate_chatbot(json.loads(m.message)),
    "webhook": lambda r: (
        verify_signature(
            "s", r.headers["X-Vigil-Timestamp"], r.headers["X-Vigil-Signature"], r.body, samples.T0
        )
        or pytest.fail("bad signature")
    ),
}


@pytest.mark.parametrize("kind", kinds.KINDS)
def test_build_delivery_dispatches_every_kind(kind: str) -> None:
    VALIDATORS[kind](kinds.build_delivery(CHANNELS[kind], samples.down(), samples.T0))


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"kind": "slack"}, "slack channel has no url"),
        ({"kind": "opsgenie", "api_key": "k", "region": "ap"}, "unknown Opsgenie region"),
        ({"kind": "fax", "url": HOOK}, "unknown channel kind 'fax'"),
    ],
)
def test_a_broken_channel_fails_alone_with_a_clear_error(
    channel: dict[str, Any], message: str
) -> None:
    with pytest.raises(kinds.ChannelConfigError, match=message):
        kinds.build_delivery(channel, samples.down(), samples.T0)
