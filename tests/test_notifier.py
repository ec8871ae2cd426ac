"""Alert channels end to end, all on moto: ping → flip → SNS → queue → notifier → HTTP.

The topic delivers to the notify queue through moto's real SNS→SQS subscription (raw, with the
alert filter policy); each message is then handed to the ``notify`` Lambda handler through
chalice's test client, as the SQS event source mapping would (deleted on success, left on
failure). Channels point at capture servers on 127.0.0.1 (the loopback allowance is the local
setting). Time is time-machine's, and moto honours ``DelaySeconds`` against it, so retries are
driven by moving the clock exactly as far as each delay, never by sleeping.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import time_machine

from tests.capture import Behaviour, CaptureServer
from tests.conftest import ROOT, T0, TABLE, TOPIC
from tests.test_channel_payloads import (
    ROUTING_KEY,
    validate_chatbot,
    validate_discord,
    validate_msteams,
    validate_opsgenie_create,
    validate_pagerduty,
    validate_slack,
)

JSON = {"Content-Type": "application/json"}
WEBHOOK_SECRET = "s3cr3t-webhook-signing-key"


@dataclass
class Stack:
    client: Any
    keys: Any
    clock: Any
    sqs: Any
    queue_url: str
    dead_letter_url: str
    deps: Any
    delays: list[int] = field(default_factory=list)  # DelaySeconds of each re-queued message

    def api(self, method: str, path: str, body: Any = None) -> Any:
        kwargs: dict[str, Any] = {"headers": {"X-Api-Key": self.keys.api_key, **JSON}}
        if body is not None:
            kwargs["body"] = json.dumps(body)
        return getattr(self.client.http, method)(f"/api/v3/{path}", **kwargs)

    def add_channel(self, **fields: Any) -> dict[str, Any]:
        reply = self.api("post", "channels/", fields)
        assert reply.status_code == 201, reply.body
        return dict(json.loads(reply.body))

    def create_check(self, **fields: Any) -> dict[str, Any]:
        reply = self.api("post", "checks/", {"timeout": 60, "grace": 60, **fields})
        assert reply.status_code == 201, reply.body
        return dict(json.loads(reply.body))

    def ping(self, uuid: str, suffix: str = "") -> None:
        assert self.client.http.get(f"/ping/{uuid}{suffix}").status_code == 200

    def sweep(self) -> None:
        event = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        self.client.lambda_.invoke("sweep", event)

    def later(self, seconds: float) -> None:
        self.clock.shift(timedelta(seconds=seconds))

    def receive(self) -> list[dict[str, Any]]:
        reply = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        )
        return list(reply.get("Messages", []))

    def invoke(self, message: dict[str, Any]) -> None:
        """The event source mapping: one message per invocation, deleted once it succeeds."""
        self.client.lambda_.invoke("notify", lambda_event(message))
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def pump(self) -> int:
        """Hand every visible message to the notifier, until the queue has none visible."""
        handled = 0
        while messages := self.receive():
            for message in messages:
                self.invoke(message)
                handled += 1
        return handled

    def dead_letters(self) -> list[dict[str, Any]]:
        reply = self.sqs.receive_message(QueueUrl=self.dead_letter_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in reply.get("Messages", [])]

    def channels(self) -> dict[str, dict[str, Any]]:
        reply = self.api("get", "channels/")
        assert reply.status_code == 200
        return {c["id"]: c for c in json.loads(reply.body)["channels"]}


def lambda_event(message: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
        for name, value in message.get("MessageAttributes", {}).items()
    }
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {},
                "messageAttributes": attributes,
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notify",
            }
        ]
    }


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    from moto import mock_aws

    with mock_aws(), time_machine.travel(T0, tick=False) as clock:
        import boto3
        from chalice.test import Client

        from chalicelib import wiring
        from chalicelib.bootstrap import bootstrap
        from chalicelib.management import create_project
        from chalicelib.notify_queue import SqsQueue
        from chalicelib.notify_setup import ensure_notify_queues
        from chalicelib.settings import Settings

        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        created = bootstrap(boto3.client("dynamodb"), sns, TABLE, TOPIC)
        queues = ensure_notify_queues(sqs, sns, created["topic_arn"])
        settings = Settings(
            table=TABLE,
            topic_arn=created["topic_arn"],
            notify_queue_url=queues.url,
            dead_letter_url=queues.dead_letter_url,
            allow_loopback=True,
            site_root="https://vigil.example.com",  # links in messages are https, as deployed
        )
        monkeypatch.setenv("VIGIL_TABLE", TABLE)
        monkeypatch.setenv("VIGIL_TOPIC_ARN", created["topic_arn"])
        deps = wiring.build_deps(settings)
        monkeypatch.setattr(wiring, "_deps", deps)
        stack = Stack(
            None, create_project(deps, "team"), clock, sqs, queues.url, queues.dead_letter_url, deps
        )
        real_send = SqsQueue.send

        def recording_send(queue: SqsQueue, body: str, *args: Any, **kwargs: Any) -> str:
            message = json.loads(body)
            if message.get("delivery") and message.get("retry"):
                delay = args[0] if args else kwargs.get("delay_seconds", 0)
                stack.delays.append(delay)
            return real_send(queue, body, *args, **kwargs)

        monkeypatch.setattr(SqsQueue, "send", recording_send)
        from app import app

        with Client(app, project_dir=str(ROOT)) as client:
            stack.client = client
            yield stack
        wiring.reset()


def go_down(stack: Stack, uuid: str) -> None:
    stack.ping(uuid)
    stack.later(121)
    stack.sweep()


# --- every kind, through the real path ----------------------------------------------------


@dataclass
class Fleet:
    servers: dict[str, CaptureServer]
    ids: dict[str, str]
    chatbot_queue: str


@pytest.fixture
def fleet(stack: Stack) -> Iterator[Fleet]:
    kinds = ("webhook", "slack", "msteams", "discord", "pagerduty", "opsgenie")
    servers = {kind: CaptureServer().__enter__() for kind in kinds}
    sns = __import__("boto3").client("sns")
    chat_topic = sns.create_topic(Name="team-chatbot")["TopicArn"]
    chat_queue = stack.sqs.create_queue(QueueName="chatbot-sink")["QueueUrl"]
    chat_arn = stack.sqs.get_queue_attributes(QueueUrl=chat_queue, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=chat_topic,
        Protocol="sqs",
        Endpoint=chat_arn["Attributes"]["QueueArn"],
        Attributes={"RawMessageDelivery": "true"},
    )
    fields: dict[str, dict[str, Any]] = {
        "webhook": {"url": servers["webhook"].url("/hook"), "secret": WEBHOOK_SECRET},
        "slack": {"url": servers["slack"].url("/services/T0/B0/x")},
        "msteams": {"url": servers["msteams"].url("/workflows/x")},
        "discord": {"url": servers["discord"].url("/api/webhooks/1/x")},
        "pagerduty": {"routing_key": ROUTING_KEY, "url": servers["pagerduty"].url("/v2/enqueue")},
        "opsgenie": {"api_key": "og-key-1", "region": "eu", "url": servers["opsgenie"].url("")},
        "sns": {"topic_arn": chat_topic, "format": "chatbot"},
    }
    ids = {
        kind: stack.add_channel(name=f"team-{kind}", kind=kind, **body)["id"]
        for kind, body in fields.items()
    }
    yield Fleet(servers, ids, chat_queue)
    for server in servers.values():
        server.__exit__(None, None, None)


def test_every_kind_gets_down_then_up_through_sns_and_the_queue(
    stack: Stack, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    check = stack.create_check(name="nightly-backup", channels="*")
    assert set(check["channels"].split(",")) >= set(fleet.ids.values())
    go_down(stack, check["uuid"])
    # The alert came through the topic's subscription: the fan-out, then one per channel.
    assert stack.pump() == 1 + len(fleet.ids)
    for server in fleet.servers.values():
        server.wait_for(1)
    stack.ping(check["uuid"])  # up
    assert stack.pump() == 1 + len(fleet.ids)
    captured = {kind: server.wait_for(2) for kind, server in fleet.servers.items()}

    webhook_down, webhook_up = (json.loads(r.body) for r in captured["webhook"])
    assert (webhook_down["event"], webhook_up["event"]) == ("down", "up")
    assert webhook_down["check"]["uuid"] == check["uuid"]
    for name in ("slack", "discord"):
        assert all(r.method == "POST" for r in captured[name])
    for request in captured["slack"]:
        validate_slack(json.loads(request.body))
    for request in captured["msteams"]:
        validate_msteams(json.loads(request.body), request.body)
    for request in captured["discord"]:
        validate_discord(json.loads(request.body))
    assert "DOWN" in json.dumps(json.loads(captured["slack"][0].body))

    trigger, resolve = (json.loads(r.body) for r in captured["pagerduty"])
    validate_pagerduty(trigger)
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] == check["uuid"]
    assert trigger["routing_key"] == ROUTING_KEY

    create, close = captured["opsgenie"]
    assert create.path == "/v2/alerts"
    assert create.headers["Authorization"] == "GenieKey og-key-1"
    validate_opsgenie_create(json.loads(create.body))
    assert json.loads(create.body)["alias"] == check["uuid"]
    assert close.path == f"/v2/alerts/{check['uuid']}/close?identifierType=alias"
    assert close.headers["Authorization"] == "GenieKey og-key-1"

    chat = stack.sqs.receive_message(QueueUrl=fleet.chatbot_queue, MaxNumberOfMessages=10)
    bodies = [json.loads(m["Body"]) for m in chat["Messages"]]
    assert len(bodies) == 2
    for body in bodies:
        validate_chatbot(body)

    # Secrets are never logged: URLs with their tokens, routing and API keys, signing secrets.
    for secret in (WEBHOOK_SECRET, ROUTING_KEY, "og-key-1", "/services/T0/B0/x", "/workflows/x"):
        assert secret not in caplog.text
    assert '"event": "delivery"' in caplog.text  # the attempts were logged, not their secrets
    listed = stack.channels()
    for channel_id in fleet.ids.values():
        assert listed[channel_id]["last_notify"] == (T0 + timedelta(seconds=121)).isoformat()
        assert listed[channel_id]["last_error"] == ""


def test_the_webhook_signature_verifies_with_the_channel_secret(stack: Stack, fleet: Fleet) -> None:
    from chalicelib.channels.webhook import verify_signature

    check = stack.create_check(name="signed", channels=fleet.ids["webhook"])
    go_down(stack, check["uuid"])
    stack.pump()
    (request,) = fleet.servers["webhook"].wait_for(1)
    timestamp = request.headers["X-Vigil-Timestamp"]
    signature = request.headers["X-Vigil-Signature"]
    now = T0 + timedelta(seconds=121)
    assert verify_signature(WEBHOOK_SECRET, timestamp, signature, request.body, now)
    assert not verify_signature("another-secret-of-16+", timestamp, signature, request.body, now)
    assert not verify_signature(WEBHOOK_SECRET, timestamp, signature, request.body + b" ", now)


def test_a_check_routed_to_one_channel_alerts_only_that_channel_and_not_the_topic(
    stack: Stack, fleet: Fleet
) -> None:
    from tests.conftest import read_alerts

    spy = stack.sqs.create_queue(QueueName="topic-subscriber")["QueueUrl"]
    arn = stack.sqs.get_queue_attributes(QueueUrl=spy, AttributeNames=["QueueArn"])
    __import__("boto3").client("sns").subscribe(
        TopicArn=stack.deps.settings.topic_arn,
        Protocol="sqs",
        Endpoint=arn["Attributes"]["QueueArn"],
    )
    check = stack.create_check(name="slack-only", channels="team-slack")
    assert check["channels"] == fleet.ids["slack"]
    go_down(stack, check["uuid"])
    assert stack.pump() == 2  # the alert, queued directly, and its one delivery
    fleet.servers["slack"].wait_for(1)
    assert read_alerts(spy) == []  # the topic's subscribers were not told
    for kind, server in fleet.servers.items():
        assert len(server.requests) == (1 if kind == "slack" else 0), kind


def test_a_check_without_channels_field_keeps_alerting_the_topic_only(
    stack: Stack, fleet: Fleet
) -> None:
    check = stack.create_check(name="legacy-default")
    topic = next(c for c in stack.channels().values() if c["kind"] == "sns" and c["name"] == TOPIC)
    assert check["channels"] == topic["id"]
    go_down(stack, check["uuid"])
    assert stack.pump() == 1  # the alert arrived through the topic; nothing to fan out
    assert all(not server.requests for server in fleet.servers.values())
    assert stack.channels()[topic["id"]]["last_notify"] == (T0 + timedelta(seconds=121)).isoformat()


# --- reliability ------------------------------------------------------------------------------


def test_a_failing_endpoint_is_retried_with_backoff_then_dead_lettered(stack: Stack) -> None:
    from chalicelib.channels.delivery import MAX_RETRIES, RETRY_WINDOW_SECONDS

    with CaptureServer(Behaviour(status=503, body=b"unavailable")) as server:
        channel = stack.add_channel(name="flaky", kind="slack", url=server.url("/s"))
        check = stack.create_check(name="retried", channels=channel["id"])
        go_down(stack, check["uuid"])
        assert stack.pump() == 2  # the alert and the first attempt
        for retry in range(MAX_RETRIES):
            assert stack.pump() == 0  # not before its delay
            stack.later(stack.delays[retry])
            assert stack.pump() == 1, f"retry {retry + 1} did not come due"
        requests = server.wait_for(1 + MAX_RETRIES)
    assert len(requests) == 1 + MAX_RETRIES
    # Exponential: each delay ceiling doubles up to SQS's 900 s; the whole run spans > 1 h.
    assert stack.delays[:4] == sorted(stack.delays[:4])
    assert stack.delays[3] >= 40 and max(stack.delays) <= 900
    assert sum(stack.delays) >= RETRY_WINDOW_SECONDS
    (dead,) = stack.dead_letters()
    assert dead["channel"] == channel["id"] and dead["document"]["event"] == "down"
    assert stack.channels()[channel["id"]]["last_error"] == "HTTP 503: unavailable"


def test_a_4xx_is_not_retried_and_is_shown_as_last_error(stack: Stack) -> None:
    with CaptureServer(Behaviour(status=404, body=b"no_service")) as server:
        channel = stack.add_channel(name="revoked", kind="discord", url=server.url("/d"))
        check = stack.create_check(name="gone-hook", channels=channel["id"])
        go_down(stack, check["uuid"])
        assert stack.pump() == 2
        stack.later(3600)
        assert stack.pump() == 0
        assert len(server.requests) == 1
    assert stack.dead_letters() == []
    assert stack.channels()[channel["id"]]["last_error"] == "HTTP 404: no_service"


def test_a_recovered_endpoint_gets_the_alert_once_and_last_error_clears(stack: Stack) -> None:
    with CaptureServer(Behaviour(status=500)) as server:
        channel = stack.add_channel(name="recovers", kind="msteams", url=server.url("/t"))
        check = stack.create_check(name="eventually", channels=channel["id"])
        go_down(stack, check["uuid"])
        stack.pump()
        assert stack.channels()[channel["id"]]["last_error"].startswith("HTTP 500")
        server.behaviour = Behaviour(status=202)
        stack.later(stack.delays[0])
        assert stack.pump() == 1
        stack.later(3600)
        assert stack.pump() == 0
        assert len(server.requests) == 2
    assert stack.channels()[channel["id"]]["last_error"] == ""


def test_a_redelivered_message_never_sends_a_delivered_alert_twice(stack: Stack) -> None:
    """SQS is at least once: the same delivery message handled again sends nothing."""
    with CaptureServer() as server:
        channel = stack.add_channel(name="once", kind="webhook", url=server.url("/w"))
        check = stack.create_check(name="dedup", channels=channel["id"])
        go_down(stack, check["uuid"])
        (alert,) = stack.receive()
        stack.invoke(alert)
        (delivery,) = stack.receive()
        stack.client.lambda_.invoke("notify", lambda_event(delivery))
        stack.client.lambda_.invoke("notify", lambda_event(delivery))  # a duplicate copy
        stack.invoke(alert)  # and the alert itself again: a second fan-out
        stack.pump()
        assert len(server.wait_for(1)) == 1
        stack.later(3600)
        stack.pump()
        assert len(server.requests) == 1


def test_a_slow_channel_does_not_delay_another(stack: Stack) -> None:
    """Each delivery is its own message and invocation; the hung one holds only itself."""
    with (
        CaptureServer(Behaviour(mode="hang")) as slow,
        CaptureServer() as fast,
    ):
        slow_id = stack.add_channel(name="slow", kind="slack", url=slow.url("/s"))["id"]
        fast_id = stack.add_channel(name="fast", kind="discord", url=fast.url("/f"))["id"]
        check = stack.create_check(name="both", channels=f"{slow_id},{fast_id}")
        go_down(stack, check["uuid"])
        (alert,) = stack.receive()
        stack.invoke(alert)  # the fan-out sends nothing itself
        assert not slow.requests and not fast.requests
        deliveries = stack.receive()
        assert len(deliveries) == 2
        # Lambda runs the two invocations concurrently; here, two threads.
        threads = [
            threading.Thread(target=stack.client.lambda_.invoke, args=("notify", lambda_event(m)))
            for m in deliveries
        ]
        for thread in threads:
            thread.start()
        fast.wait_for(1)
        slow.wait_for(1)  # the slow request is open, and the fast one already answered
        assert threads_alive(threads) >= 1
        slow.released.set()
        for thread in threads:
            thread.join(30)
        assert threads_alive(threads) == 0


def threads_alive(threads: list[threading.Thread]) -> int:
    return sum(thread.is_alive() for thread in threads)


def test_the_ssrf_guard_refuses_metadata_and_private_urls_end_to_end(stack: Stack) -> None:
    """Refused at creation when the URL says so; at send time when its name resolves so."""
    import functools

    from chalicelib import wiring
    from chalicelib.channels import sender

    for url, problem in (
        ("http://169.254.169.254/latest/meta-data/", "a cloud metadata address"),
        ("http://10.1.2.3/hook", "a private address"),
    ):
        reply = stack.api("post", "channels/", {"name": "x", "kind": "webhook", "url": url})
        assert reply.status_code == 400
        assert json.loads(reply.body)["error"].endswith(problem)
    # A name passes creation (its DNS answer can change) and is judged on every send: here it
    # resolves to the metadata address, under the deployed setting (no loopback allowance).
    channel = stack.add_channel(name="rebind", kind="slack", url="http://hooks.example.test/x")
    notifier = wiring.build_notifier(stack.deps)
    notifier.send_http = functools.partial(
        sender.send, allow_loopback=False, resolve=lambda host, port: ["169.254.169.254"]
    )
    wiring._notifier = notifier
    check = stack.create_check(name="ssrf", channels=channel["id"])
    go_down(stack, check["uuid"])
    assert stack.pump() == 2
    stack.later(3600)
    assert stack.pump() == 0  # permanent: never retried
    error = stack.channels()[channel["id"]]["last_error"]
    assert error == (
        "refused: hooks.example.test resolves to 169.254.169.254, which is a cloud metadata address"
    )
    assert stack.dead_letters() == []


# --- the API --------------------------------------------------------------------------------


def test_channels_api_never_returns_secrets_and_stores_them_sealed(stack: Stack) -> None:
    created = stack.add_channel(name="hook", kind="webhook", url="http://127.0.0.1:9/x")
    stack.later(1)  # listed oldest first
    assert set(created) == {"id", "name", "kind", "secret"} and len(created["secret"]) >= 32
    pd = stack.add_channel(name="pd", kind="pagerduty", routing_key=ROUTING_KEY)
    assert set(pd) == {"id", "name", "kind"}
    listing = stack.api("get", "channels/").body
    for secret in (created["secret"], ROUTING_KEY, "127.0.0.1:9"):
        assert secret.encode() not in listing
    import boto3

    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    raw = json.dumps(items, default=str)
    for secret in (created["secret"], ROUTING_KEY, "127.0.0.1:9"):
        assert secret not in raw
    listed = json.loads(listing)["channels"]
    assert [c["kind"] for c in listed] == ["sns", "webhook", "pagerduty"]
    assert set(listed[1]) == {"id", "name", "kind", "last_notify", "last_error"}


def test_channel_writes_need_a_read_write_key_and_bad_bodies_get_400(stack: Stack) -> None:
    ro = {"X-Api-Key": stack.keys.api_key_readonly, **JSON}
    body = json.dumps({"name": "x", "kind": "slack", "url": "https://hooks.slack.com/x"})
    assert stack.client.http.post("/api/v3/channels/", headers=ro, body=body).status_code == 401
    assert stack.client.http.get("/api/v3/channels/", headers=ro).status_code == 401
    for bad, text in (
        ({"kind": "carrier-pigeon"}, "json validation error: kind has unexpected value"),
        (
            {"kind": "pagerduty", "routing_key": "short"},
            "json validation error: routing_key is not 32 characters",
        ),
        (
            {"kind": "sns", "topic_arn": stack.deps.settings.topic_arn},
            "json validation error: topic_arn is the deployment's alert topic, already a channel",
        ),
        (
            {"kind": "slack", "url": "ftp://x"},
            "json validation error: url is not allowed: only http:// and https:// URLs are allowed",
        ),
    ):
        reply = stack.api("post", "channels/", bad)
        assert (reply.status_code, json.loads(reply.body)["error"]) == (400, text)
    assert len(stack.channels()) == 1  # nothing half-written


def test_channels_field_resolves_names_and_ids_and_rejects_unknown_or_ambiguous(
    stack: Stack,
) -> None:
    a = stack.add_channel(name="ops", kind="slack", url="https://hooks.slack.com/a")
    b = stack.add_channel(name="dup", kind="discord", url="https://discord.com/api/webhooks/1/b")
    c = stack.add_channel(name="dup", kind="discord", url="https://discord.com/api/webhooks/1/c")
    check = stack.create_check(name="r", channels=f"ops, {b['id']}")
    assert check["channels"] == f"{a['id']},{b['id']}"
    for value, error in (
        ("nope", "invalid channel identifier: nope"),
        ("dup", "non-unique channel identifier: dup"),
    ):
        reply = stack.api("post", "checks/", {"name": "bad", "channels": value})
        assert (reply.status_code, json.loads(reply.body)["error"]) == (400, error)
    everything = stack.create_check(name="all", channels="*")
    assert set(everything["channels"].split(",")) >= {a["id"], b["id"], c["id"]}
    assert stack.create_check(name="none", channels="")["channels"] == ""
    updated = stack.api("post", f"checks/{check['uuid']}", {"channels": c["id"]})
    assert json.loads(updated.body)["channels"] == c["id"]


def test_deleting_a_channel_unroutes_it_from_checks(stack: Stack) -> None:
    a = stack.add_channel(name="a", kind="slack", url="https://hooks.slack.com/a")
    b = stack.add_channel(name="b", kind="slack", url="https://hooks.slack.com/b")
    check = stack.create_check(name="r", channels="a,b")
    assert stack.api("delete", f"channels/{a['id']}").status_code == 200
    assert a["id"] not in stack.channels()
    fetched = json.loads(stack.api("get", f"checks/{check['uuid']}").body)
    assert fetched["channels"] == b["id"]
    assert stack.api("delete", f"channels/{a['id']}").status_code == 404
    topic_id = next(i for i, c in stack.channels().items() if c["kind"] == "sns")
    assert stack.api("delete", f"channels/{topic_id}").status_code == 400


def test_a_deleted_channels_queued_delivery_is_dropped(stack: Stack) -> None:
    with CaptureServer() as server:
        channel = stack.add_channel(name="bye", kind="slack", url=server.url("/b"))
        check = stack.create_check(name="x", channels=channel["id"])
        go_down(stack, check["uuid"])
        (alert,) = stack.receive()
        stack.invoke(alert)
        stack.api("delete", f"channels/{channel['id']}")
        assert stack.pump() == 1
        assert server.requests == []


# --- the CLI ----------------------------------------------------------------------------------


def test_the_cli_adds_lists_and_deletes_channels(
    aws: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chalicelib import cli, wiring
    from chalicelib.management import create_project

    monkeypatch.setenv("VIGIL_TABLE", TABLE)
    monkeypatch.setenv("VIGIL_TOPIC_NAME", TOPIC)
    monkeypatch.delenv("VIGIL_TOPIC_ARN", raising=False)
    keys = create_project(cli._project_deps(), "ops")

    def run(*argv: str) -> Any:
        assert cli.main(list(argv)) == 0
        return json.loads(capsys.readouterr().out)

    pd = run(
        "add-channel",
        keys.project,
        "--kind",
        "pagerduty",
        "--name",
        "pd",
        "--routing-key",
        ROUTING_KEY,
    )
    assert set(pd) == {"id", "name", "kind"} and pd["kind"] == "pagerduty"
    listed = run("list-channels", keys.project)["channels"]
    assert [(c["name"], c["kind"]) for c in listed] == [(TOPIC, "sns"), ("pd", "pagerduty")]
    assert ROUTING_KEY not in json.dumps(listed)
    assert (
        cli.main(
            [
                "add-channel",
                keys.project,
                "--kind",
                "opsgenie",
                "--region",
                "mars",
                "--api-key",
                "k",
            ]
        )
        == 1
    )
    assert "region has unexpected value" in capsys.readouterr().err
    run("delete-channel", keys.project, pd["id"])
    assert len(run("list-channels", keys.project)["channels"]) == 1
    wiring.reset()


def test_a_sealed_secret_moved_to_another_channel_does_not_decrypt(stack: Stack) -> None:
    """The encryption context binds a blob to its project and channel."""
    import boto3

    with CaptureServer() as server:
        a = stack.add_channel(name="a", kind="slack", url=server.url("/a"))
        b = stack.add_channel(name="b", kind="slack", url=server.url("/b"))
        dynamodb = boto3.client("dynamodb")
        project = f"PROJECT#{stack.keys.project}"
        item_a = dynamodb.get_item(
            TableName=TABLE, Key={"pk": {"S": project}, "sk": {"S": f"CHANNEL#{a['id']}"}}
        )["Item"]
        dynamodb.update_item(
            TableName=TABLE,
            Key={"pk": {"S": project}, "sk": {"S": f"CHANNEL#{b['id']}"}},
            UpdateExpression="SET sealed = :s",
            ExpressionAttributeValues={":s": item_a["sealed"]},
        )
        check = stack.create_check(name="x", channels="a,b")
        go_down(stack, check["uuid"])
        assert stack.pump() == 3
        assert [r.path for r in server.wait_for(1)] == ["/a"]
        stack.later(3600)
        assert stack.pump() == 0
    assert stack.channels()[b["id"]]["last_error"] == (
        "channel misconfigured: its secrets cannot be decrypted (InvalidCiphertextException); "
        "re-create it"
    )


def test_a_retry_after_longer_than_sqs_delays_is_honoured(stack: Stack) -> None:
    """429 with Retry-After: 3000 s: no attempt before then, although SQS delays top at 900 s."""
    busy = Behaviour(status=429, headers={"Retry-After": "3000"}, body=b"slow down")
    with CaptureServer(busy) as server:
        channel = stack.add_channel(name="busy", kind="discord", url=server.url("/d"))
        check = stack.create_check(name="patient", channels=channel["id"])
        go_down(stack, check["uuid"])
        assert stack.pump() == 2
        for _ in range(3):  # +900, +1800, +2700: waits, re-queued, nothing sent
            stack.later(900)
            assert stack.pump() == 1
            assert len(server.requests) == 1
        stack.later(299)
        assert stack.pump() == 0
        stack.later(1)
        assert stack.pump() == 1
        assert len(server.wait_for(2)) == 2


def test_without_a_notifier_an_alert_for_channels_stays_in_the_outbox(
    client: Any, deps: Any, project: Any, aws: dict[str, str]
) -> None:
    """No queue configured: the alert must not go to the topic's subscribers instead."""
    from chalicelib import service, sweeps
    from tests.conftest import read_alerts

    headers = {"X-Api-Key": project.api_key, **JSON}
    body = json.dumps({"name": "s", "kind": "slack", "url": "https://hooks.slack.com/s"})
    channel = json.loads(client.http.post("/api/v3/channels/", headers=headers, body=body).body)
    body = json.dumps({"name": "c", "timeout": 60, "grace": 60, "channels": channel["id"]})
    check = json.loads(client.http.post("/api/v3/checks/", headers=headers, body=body).body)
    service.record_ping(deps, check["uuid"], _ping(), T0)
    report = sweeps.sweep(deps, T0 + timedelta(minutes=5))
    assert (report.flipped, report.alerts_failed) == (1, 1)
    assert read_alerts(aws["queue_url"]) == []


def _ping() -> Any:
    from chalicelib.domain import Ping

    return Ping(action="success", method="GET", remote_addr="10.0.0.1", scheme="https")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://localhost:8080/hook", "localhost is a loopback address"),
        ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://10.0.0.7/hook", "10.0.0.7 is a private address"),
        ("http://169.254.169.254/latest/", "169.254.169.254 is a cloud metadata address"),
        ("http://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254 is a cloud metadata address"),
    ],
)
def test_deployed_the_api_refuses_channel_urls_that_point_inside(
    client: Any, project: Any, url: str, problem: str
) -> None:
    """The default (deployed) setting: no loopback allowance."""
    body = json.dumps({"name": "x", "kind": "webhook", "url": url})
    headers = {"X-Api-Key": project.api_key, **JSON}
    reply = client.http.post("/api/v3/channels/", headers=headers, body=body)
    assert reply.status_code == 400
    assert (
        json.loads(reply.body)["error"] == f"json validation error: url is not allowed: {problem}"
    )
    listed = json.loads(client.http.get("/api/v3/channels/", headers=headers).body)
    assert [c["kind"] for c in listed["channels"]] == ["sns"]
