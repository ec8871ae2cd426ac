"""Least privilege: each function's policy grants what its code calls, and nothing more.

The calls are the real ones. The app's flows run under moto through chalice's test client,
and a botocore ``before-parameter-build`` hook on every client the app builds records each API
call for the function that made it (an HTTP route: ``api_handler``; the schedule: ``sweep``).
Each call becomes the IAM (action, resource) requests AWS authorizes it by, and each request is
checked against the policy ``make deploy`` writes for that function (tools/policy.py).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine

from tests.conftest import ROOT, T0
from tools.policy import FUNCTIONS, Arns, deployed_policy

TABLE = "vigil-policy"
TOPIC = "vigil-policy-alerts"
RID = "5d0e2a58-1c7e-4f0b-9a57-2f1b8f0c6a11"
JSON = {"Content-Type": "application/json"}

# Granted although no flow below makes the call, each with its reason. Anything granted, never
# called and not listed here fails test_each_policy_grants_only_what_its_function_calls.
UNEXERCISED_GRANTS: dict[str, dict[str, str]] = {
    "api_handler": {},
    "sweep": {},
    "ping": {},
    "notify": {
        "sqs:ReceiveMessage": "the SQS event source mapping polls the queue with this role",
        "sqs:DeleteMessage": "the event source mapping deletes what the function handled",
        "sqs:GetQueueAttributes": "the event source mapping reads the queue's settings",
    },
}


# --- IAM: which requests a call makes, and whether a policy allows them ---------------------

Request = tuple[str, str]  # (action, resource)


def iam_requests(prefix: str, operation: str, params: dict[str, Any], arns: Arns) -> list[Request]:
    """The (action, resource) pairs IAM checks for one API call.

    Transactions are authorized item by item by the underlying actions (PutItem, UpdateItem,
    DeleteItem, ConditionCheckItem, GetItem); there is no TransactWriteItems permission.
    Publishing to a topic under a customer managed key also needs the key, for the publisher.
    """
    if prefix == "dynamodb":
        return _dynamodb_requests(operation, params)
    if prefix == "sns" and operation == "Publish":
        if params["TopicArn"] != arns.topic:
            return [("sns:Publish", params["TopicArn"])]  # a channel's own (unencrypted) topic
        return [
            ("sns:Publish", params["TopicArn"]),
            ("kms:GenerateDataKey", arns.topic_key),
            ("kms:Decrypt", arns.topic_key),
        ]
    if prefix == "kms" and "KeyId" in params:
        # The app names the key by alias; IAM authorizes against the key the alias points at.
        key = params["KeyId"]
        return [(f"kms:{operation}", arns.topic_key if key == f"alias/{TOPIC}" else key)]
    if prefix == "sqs" and "QueueUrl" in params:
        return [(f"sqs:{operation}", queue_arn(params["QueueUrl"]))]
    return [(f"{prefix}:{operation}", "*")]


def queue_arn(url: str) -> str:
    account, name = url.rstrip("/").split("/")[-2:]
    return f"arn:aws:sqs:us-east-1:{account}:{name}"


def _dynamodb_requests(operation: str, params: dict[str, Any]) -> list[Request]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
            "Get": "GetItem",
        }
        return [
            (f"dynamodb:{kinds[kind]}", table_arn(body["TableName"]))
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation in ("BatchWriteItem", "BatchGetItem"):
        return [(f"dynamodb:{operation}", table_arn(name)) for name in params["RequestItems"]]
    resource = table_arn(params["TableName"])
    if params.get("IndexName"):
        resource += f"/index/{params['IndexName']}"
    return [(f"dynamodb:{operation}", resource)]


def table_arn(name: str) -> str:
    return f"arn:aws:dynamodb:us-east-1:123456789012:table/{name}"


def allows(policy: dict[str, Any], request: Request) -> bool:
    action, resource = request
    for statement in policy["Statement"]:
        # Only plain Allow statements: a Deny, NotAction or Condition would need a real evaluator.
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
        assert statement["Effect"] == "Allow", statement
        if any(_glob(a, action, ignore_case=True) for a in _as_list(statement["Action"])) and any(
            _glob(r, resource, ignore_case=False) for r in _as_list(statement["Resource"])
        ):
            return True
    return False


def _glob(pattern: str, value: str, *, ignore_case: bool) -> bool:
    """IAM wildcards: ``*`` is any run of characters, ``?`` any one; nothing else is special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def granted_actions(policy: dict[str, Any]) -> set[str]:
    return {a for s in policy["Statement"] for a in _as_list(s["Action"]) if ":" in a}


# --- the recorder and the flows ---------------------------------------------------------------


@dataclass
class Recorder:
    arns: Arns
    function: str | None = None
    calls: dict[str, set[Request]] = field(default_factory=lambda: {f: set() for f in FUNCTIONS})
    strays: list[str] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build.*.*", self._before_call)
        return client

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        prefix = model.service_model.endpoint_prefix
        if self.function is None:
            self.strays.append(f"{prefix}:{model.name}")
            return
        self.calls[self.function].update(iam_requests(prefix, model.name, params, self.arns))

    @contextmanager
    def acting_as(self, function: str) -> Iterator[None]:
        self.function = function
        try:
            yield
        finally:
            self.function = None


@dataclass
class Flows:
    client: Any
    recorder: Recorder
    keys: Any
    clock: Any
    sns: Any
    sqs: Any = None
    queue_url: str = ""

    def http(self, method: str, path: str, **kwargs: Any) -> Any:
        with self.recorder.acting_as("api_handler"):
            return getattr(self.client.http, method)(path, **kwargs)

    def url(self, method: str, path: str, body: bytes | None = None) -> Any:
        """A ping through the function URL: the ``ping`` function's own entry, its own role."""
        from tests.test_function_url import invoke_ping, url_event

        with self.recorder.acting_as("ping"):
            return invoke_ping(url_event(method, path, body=body))

    def sweep(self) -> None:
        event = self.client.events.generate_cw_event(
            source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
        )
        with self.recorder.acting_as("sweep"):
            self.client.lambda_.invoke("sweep", event)

    def create(self, **fields: Any) -> str:
        reply = self.http(
            "post",
            "/api/v3/checks/",
            headers={"X-Api-Key": self.keys.api_key, **JSON},
            body=json.dumps(fields),
        )
        assert reply.status_code in (200, 201), reply.body
        return str(json.loads(reply.body)["uuid"])

    def notify(self) -> int:
        """The event source mapping: each visible message, one invocation, deleted on success."""
        handled = 0
        while True:
            reply = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
            )
            if not reply.get("Messages"):
                return handled
            for message in reply["Messages"]:
                with self.recorder.acting_as("notify"):
                    self.client.lambda_.invoke("notify", sqs_event(message))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
                handled += 1

    def later(self, seconds: int) -> None:
        self.clock.shift(timedelta(seconds=seconds))

    @contextmanager
    def topic_gone(self) -> Iterator[None]:
        """Publishes fail while the topic is deleted (as an operator, unrecorded)."""
        self.sns.delete_topic(TopicArn=self.recorder.arns.topic)
        try:
            yield
        finally:
            self.sns.create_topic(Name=TOPIC)


def run_api_flows(flows: Flows, simple: str, cron: str) -> None:
    rw, ro = flows.keys.api_key, flows.keys.api_key_readonly
    for key in (rw, ro, "x" * 32, None):
        flows.http("get", f"/api/v3/checks/{simple}", headers={"X-Api-Key": key} if key else {})
    for suffix in ("", "/start", "/log", "/0", "/1", "/256", "/fail", f"/start?rid={RID}"):
        flows.http("get", f"/ping/{simple}{suffix}")
    flows.http("post", f"/ping/{cron}", headers={"Content-Type": "text/plain"}, body=b"done")
    flows.http("head", f"/ping/{cron}")
    flows.http("get", "/ping/7b4c2f0e-0000-4000-8000-000000000000")
    ping_key = flows.keys.ping_key
    for path in (
        f"/ping/{ping_key}/nightly",
        f"/ping/{ping_key}/nightly/fail",
        f"/ping/{ping_key}/missing",
    ):
        flows.http("get", path)
    run_url_flows(flows, simple, cron)
    run_management_flows(flows, simple, rw)


def run_url_flows(flows: Flows, simple: str, cron: str) -> None:
    """Every ping form through the function URL, as the ``ping`` function."""
    for suffix in ("", "/start", "/log", "/progress", "/0", "/1", "/256", f"/start?rid={RID}"):
        flows.url("GET", f"/ping/{simple}{suffix}")
    flows.url("POST", f"/ping/{cron}", body=b"done")
    flows.url("HEAD", f"/ping/{cron}")
    flows.url("GET", "/ping/7b4c2f0e-0000-4000-8000-000000000000")
    ping_key = flows.keys.ping_key
    for path in (
        f"/ping/{ping_key}/nightly",
        f"/ping/{ping_key}/nightly/fail",
        f"/ping/{ping_key}/missing",
        f"/ping/{ping_key}/made-by-ping?create=1",
        "/api/v3/checks/",
    ):
        flows.url("GET", path)


def run_management_flows(flows: Flows, check: str, rw: str) -> None:
    """The rest of Management API v3; a route not there yet answers without calling AWS."""
    headers = {"X-Api-Key": rw}
    for path in (
        "/api/v3/checks/",
        "/api/v3/checks/?tag=prod",
        "/api/v3/badges/",
        f"/api/v3/checks/{check}/pings/",
        f"/api/v3/checks/{check}/flips/",
        "/api/v3/channels/",
    ):
        flows.http("get", path, headers=headers)
    flows.http(
        "post",
        f"/api/v3/checks/{check}",
        headers={**headers, **JSON},
        body=json.dumps({"grace": 120, "tags": "prod"}),
    )
    flows.http("post", f"/api/v3/checks/{check}/pause", headers=headers)
    flows.http("post", f"/api/v3/checks/{check}/resume", headers=headers)
    doomed = flows.create(name="doomed", timeout=60)
    flows.http("get", f"/ping/{doomed}")
    flows.http("delete", f"/api/v3/checks/{doomed}", headers=headers)


def run_alert_flows(flows: Flows) -> None:
    """Down by silence, by fail and by overrun; up again; failed publishes and their retries."""
    silent = flows.create(name="silent", timeout=60, grace=60)
    overrun = flows.create(name="overrun", timeout=3600, grace=60)
    flows.http("get", f"/ping/{silent}")
    flows.http("get", f"/ping/{overrun}/start")
    flows.sweep()
    flows.later(300)
    flows.sweep()  # both go down, alerts published by the sweep
    flows.http("get", f"/ping/{silent}")  # up: published on the ping path
    flows.http("get", f"/ping/{overrun}/fail")
    flows.url("GET", f"/ping/{overrun}")  # up again, published by the function URL's function
    with flows.topic_gone():
        flows.http("get", f"/ping/{silent}/fail")  # publish fails on the ping path
        flows.later(300)
        flows.sweep()  # the check goes down again while the topic is gone
    flows.later(3600)
    flows.sweep()  # leases ran out: both undelivered flips are retried and delivered
    flows.sweep()


def run_dependency_flows(flows: Flows) -> None:
    """Issue 11: a down alert's dependency hold reads the upstreams by key (BatchGetItem), on
    the function URL's ping path (a fail) and in the sweep (going down, then the release).
    Upstreams are validated on create and on edit; an edit of ``depends_on`` also reads the
    project's graph version and moves it on in its transaction."""
    upstream = flows.create(name="upstream", timeout=60, grace=60)
    downstream = flows.create(name="downstream", timeout=60, grace=60, depends_on=[upstream])
    other = flows.create(name="other", timeout=3600)
    for upstreams in ([upstream, other], [upstream]):
        edited = flows.http(
            "post",
            f"/api/v3/checks/{downstream}",
            headers={"X-Api-Key": flows.keys.api_key, **JSON},
            body=json.dumps({"depends_on": upstreams}),
        )
        assert edited.status_code == 200, edited.body
    flows.http("get", f"/ping/{upstream}")
    flows.url("GET", f"/ping/{downstream}/fail")  # judged on the ping function's path
    flows.url("GET", f"/ping/{downstream}")
    flows.later(300)
    flows.sweep()  # both down: the downstream's alert is held by its upstream
    flows.http("get", f"/ping/{upstream}")
    flows.later(60)
    flows.sweep()  # released: read again, published


def sqs_event(message: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        name: {"stringValue": value["StringValue"], "dataType": value["DataType"]}
        for name, value in message.get("MessageAttributes", {}).items()
    }
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "messageAttributes": attributes,
    }
    return {"Records": [record]}


def run_channel_flows(flows: Flows) -> None:
    """Channels created, listed, routed, delivered, retried to the dead letter, and deleted."""
    from tests.capture import Behaviour, CaptureServer

    headers = {"X-Api-Key": flows.keys.api_key, **JSON}
    chat_topic = flows.sns.create_topic(Name="policy-chatbot")["TopicArn"]
    with CaptureServer() as good, CaptureServer(Behaviour(status=503)) as bad:
        bodies = [
            {"name": "hook", "kind": "webhook", "url": good.url("/w")},
            {"name": "broken", "kind": "slack", "url": bad.url("/s")},
            {"name": "chat", "kind": "sns", "topic_arn": chat_topic, "format": "chatbot"},
        ]
        for body in bodies:
            reply = flows.http("post", "/api/v3/channels/", headers=headers, body=json.dumps(body))
            assert reply.status_code == 201, reply.body
        flows.http("get", "/api/v3/channels/", headers=headers)
        everywhere = flows.create(name="everywhere", timeout=60, grace=60, channels="*")
        elsewhere = flows.create(name="elsewhere", timeout=60, grace=60, channels="hook,broken")
        by_url = flows.create(name="by-url", timeout=60, grace=60, channels="hook")
        for uuid in (everywhere, elsewhere):
            flows.http("get", f"/ping/{uuid}")
        flows.url("GET", f"/ping/{by_url}")
        flows.later(300)
        flows.sweep()  # down: one via the topic, two queued directly by the sweeper
        flows.http("get", f"/ping/{elsewhere}")  # up, queued directly on the ping path
        flows.url("GET", f"/ping/{by_url}")  # up, queued by the function URL's function
        flows.notify()
        for _ in range(20):  # the broken channel's retries, until its budget is spent
            flows.later(3600)
            flows.notify()
        doomed = json.loads(flows.http("get", "/api/v3/channels/", headers=headers).body)
        broken = next(c["id"] for c in doomed["channels"] if c["name"] == "broken")
        flows.http("delete", f"/api/v3/channels/{broken}", headers=headers)


@pytest.fixture(scope="module")
def observed() -> Iterator[Recorder]:
    from moto import mock_aws

    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        import boto3
        from chalice.test import Client

        from chalicelib import wiring
        from chalicelib.bootstrap import provision
        from chalicelib.management import create_project
        from chalicelib.notify_setup import ensure_notify_queues
        from chalicelib.settings import Settings

        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        done = provision(boto3.client("dynamodb"), sns, boto3.client("kms"), TABLE, TOPIC)
        queues = ensure_notify_queues(sqs, sns, done.topic_arn)
        recorder = Recorder(
            Arns(
                done.table_arn,
                done.topic_arn,
                done.topic_key_arn,
                queues.arn,
                queues.dead_letter_arn,
            )
        )
        real_client = wiring.aws_client
        patch.setattr(wiring, "aws_client", lambda service: recorder.attach(real_client(service)))
        settings = Settings(
            table=TABLE,
            topic_arn=done.topic_arn,
            notify_queue_url=queues.url,
            dead_letter_url=queues.dead_letter_url,
            allow_loopback=True,  # the capture servers; the guard itself is tested elsewhere
        )
        deps = wiring.build_deps(settings)
        patch.setattr(wiring, "_deps", deps)
        keys = create_project(deps, "policy")  # operator work: the CLI, not a function
        recorder.strays.clear()
        from app import app

        with (
            Client(app, project_dir=str(ROOT)) as client,
            time_machine.travel(T0, tick=False) as clock,
        ):
            flows = Flows(client, recorder, keys, clock, sns, sqs, queues.url)
            simple = flows.create(name="simple", timeout=60, grace=60)
            cron = flows.create(
                name="nightly", slug="nightly", schedule="30 2 * * *", tz="Europe/Riga", grace=900
            )
            run_api_flows(flows, simple, cron)
            run_channel_flows(flows)  # first: run_alert_flows recreates the topic
            run_dependency_flows(flows)
            run_alert_flows(flows)
        wiring.reset()
        yield recorder


def policy_for(function: str, recorder: Recorder) -> dict[str, Any]:
    return deployed_policy(function, recorder.arns)


def denied(policy: dict[str, Any], requests: set[Request]) -> list[Request]:
    return sorted(r for r in requests if not allows(policy, r))


# --- the tests ------------------------------------------------------------------------------


def test_the_flows_exercise_both_functions_and_nothing_runs_unattributed(
    observed: Recorder,
) -> None:
    assert observed.strays == []
    api, sweep = observed.calls["api_handler"], observed.calls["sweep"]
    assert {"dynamodb:UpdateItem", "dynamodb:PutItem", "sns:Publish"} <= {a for a, _ in api}
    assert ("dynamodb:Query", table_arn(TABLE) + "/index/due_buckets") in sweep
    assert ("sns:Publish", observed.arns.topic) in sweep
    assert ("sqs:SendMessage", observed.arns.notify_queue) in sweep
    assert ("sqs:SendMessage", observed.arns.notify_queue) in api
    assert ("kms:Encrypt", observed.arns.topic_key) in api
    notify = observed.calls["notify"]
    assert ("kms:Decrypt", observed.arns.topic_key) in notify
    assert ("sqs:SendMessage", observed.arns.dead_letter_queue) in notify
    assert any(action == "sns:Publish" for action, _ in notify)
    ping = observed.calls["ping"]
    assert {"dynamodb:UpdateItem", "dynamodb:PutItem", "sns:Publish"} <= {a for a, _ in ping}
    # A channel-only check brought back up through the function URL queues its own alert.
    assert ("sqs:SendMessage", observed.arns.notify_queue) in ping


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_call_of_each_function_is_granted_by_its_policy(
    observed: Recorder, function: str
) -> None:
    assert denied(policy_for(function, observed), observed.calls[function]) == []


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_policy_grants_only_what_its_function_calls(observed: Recorder, function: str) -> None:
    policy = policy_for(function, observed)
    called = {action for action, _ in observed.calls[function]}
    unused = {
        granted
        for granted in granted_actions(policy)
        if not granted.startswith("logs:")
        and not any(_glob(granted, action, ignore_case=True) for action in called)
    }
    assert unused <= set(UNEXERCISED_GRANTS[function]), (
        f"{function} is granted {sorted(unused - set(UNEXERCISED_GRANTS[function]))} but never "
        "calls it: drop the grant, or list it in UNEXERCISED_GRANTS with the reason"
    )
    # The allowance itself must not outlive the grants it excuses.
    assert set(UNEXERCISED_GRANTS[function]) <= granted_actions(policy)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_each_resource_a_policy_names_is_one_the_function_touches(
    observed: Recorder, function: str
) -> None:
    """Index grants are per index: the API never reads ``due``, the sweeper never ``by_project``."""
    touched = {resource for _, resource in observed.calls[function]}
    for statement in policy_for(function, observed)["Statement"]:
        for resource in _as_list(statement["Resource"]):
            if "/index/" in resource and resource not in touched:
                actions = set(_as_list(statement["Action"]))
                assert actions <= set(UNEXERCISED_GRANTS[function]) | {"dynamodb:Query"}
                assert function == "api_handler" and resource.endswith("/index/by_project"), (
                    f"{function} may read {resource} but never does"
                )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_removing_any_grant_that_is_used_makes_the_check_fail(
    observed: Recorder, function: str
) -> None:
    """The coverage check is not vacuous: every used action, once ungranted, is reported."""
    policy = policy_for(function, observed)
    for action in sorted({a for a, _ in observed.calls[function]}):
        weakened = _without_action(policy, action)
        assert denied(weakened, observed.calls[function]), f"removing {action} went unnoticed"


def _without_action(policy: dict[str, Any], action: str) -> dict[str, Any]:
    statements = []
    for statement in policy["Statement"]:
        kept = [a for a in _as_list(statement["Action"]) if not _glob(a, action, ignore_case=True)]
        if kept:
            statements.append({**statement, "Action": kept})
    return {**policy, "Statement": statements}


# --- the code, read statically ------------------------------------------------------------

# Operator tools, run on an operator's machine with the operator's credentials, never in Lambda.
OPERATOR_ONLY = {
    "bootstrap.py",
    "cli.py",
    "local.py",
    "channel_cli.py",
    "local_notifier.py",
    "notify_setup.py",
}
TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}


def aws_operations_in_lambda_code() -> set[str]:
    """Every ``<...client>.<operation>(...)`` and ``get_paginator("<operation>")`` in the code."""
    import botocore.session

    session = botocore.session.get_session()
    operations: dict[str, set[str]] = {}
    for service in ("dynamodb", "sns", "sqs", "kms"):
        model = session.get_service_model(service)
        for name in model.operation_names:
            operations.setdefault(_snake(name), set()).add(f"{model.endpoint_prefix}:{name}")
    found: set[str] = set()
    sources = [ROOT / "app.py", *sorted((ROOT / "chalicelib").glob("*.py"))]
    for path in sources:
        if path.name not in OPERATOR_ONLY:
            found |= _calls_in(path, operations)
    return found


def _calls_in(path: Path, operations: dict[str, set[str]]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Dict):
            # {"Put": {...}} and friends: the items of a transaction, each its own permission.
            found |= {
                TRANSACTION_ITEMS[k.value]
                for k in node.keys
                if isinstance(k, ast.Constant) and k.value in TRANSACTION_ITEMS
            }
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if "client" not in ast.unparse(node.func.value).lower():
            continue
        name = node.func.attr
        if name == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
            name = str(node.args[0].value)
        found |= operations.get(name, set())
    return found


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_every_aws_operation_in_the_lambda_code_is_granted_to_some_function(
    observed: Recorder,
) -> None:
    """Catches a call no flow reaches yet: new code paths must come with their grant."""
    granted: set[str] = set()
    for function in FUNCTIONS:
        granted |= granted_actions(policy_for(function, observed))
    in_code = aws_operations_in_lambda_code()
    assert {"dynamodb:UpdateItem", "dynamodb:Query", "sns:Publish"} <= in_code
    # Transactions are authorized by their items' actions, collected above.
    as_iam = in_code - {"dynamodb:TransactWriteItems", "dynamodb:TransactGetItems"}
    missing = {a for a in as_iam if not any(_glob(g, a, ignore_case=True) for g in granted)}
    assert missing == set()


def test_policies_name_only_known_placeholders_and_real_arns() -> None:
    queues = [f"arn:aws:sqs:us-east-1:123456789012:q{suffix}" for suffix in ("", "-dead")]
    arns = Arns(table_arn(TABLE), "arn:aws:sns:us-east-1:123456789012:t", "arn:aws:kms:k", *queues)
    for function in FUNCTIONS:
        text = json.dumps(deployed_policy(function, arns))
        assert "${" not in text
        assert "dynamodb:*" not in text and '"*"' not in text and "sns:*" not in text
