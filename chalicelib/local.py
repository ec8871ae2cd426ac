"""The local stack behind ``make run``: embedded AWS, the API, the sweeper and an alert printer.

Everything runs in this one process (moto's threaded server, the Chalice dev server, three
daemon threads: sweeper, saver, alert printer), so Ctrl-C stops all of it and leaves nothing behind.

The embedded DynamoDB handles one request at a time (``AtomicDynamoDB``), so concurrent pings
are counted as DynamoDB counts them; plain moto lets them interleave.

The data survives restarts: every item of the table is saved to a state file
(``.vigil/state.json`` by default, ``VIGIL_STATE_FILE`` to change it) within a second of any
change (``keep_saving``) and on shutdown, and loaded back before anything else runs. A crash
(SIGKILL) loses only the writes made since the last save began. Measured with
``python -m tests.measure_state_loss``: at most 0.9 s of them with a small table, about 8.5 s
with 10,000 items (a 3.5 MB file, whose save takes that long on a loaded 2-core machine).
Only the table is saved; the topic and the printer's queue are recreated on every start.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from chalicelib import local_notifier, metrics
from chalicelib.bootstrap import DEFAULT_TABLE
from chalicelib.clock import utc_now

PROJECT_DIR = Path(__file__).resolve().parent.parent
ALERT_QUEUE = "vigil-local-alerts"
DEFAULT_STATE_FILE = PROJECT_DIR / ".vigil" / "state.json"
STATE_VERSION = 1
BATCH_WRITE_ITEMS = 25
LISTEN_BACKLOG = 128
SAVE_EVERY_SECONDS = 1.0  # how often the state file catches up (README states the loss)
EXTRACT_UUID = "python3 -c 'import json,sys; print(json.load(sys.stdin)[\"uuid\"])'"


def use_embedded_aws(moto_port: int) -> str:
    """Point every boto3 client at local moto, with credentials that work nowhere else."""
    endpoint = f"http://127.0.0.1:{moto_port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    return endpoint


class AtomicDynamoDB:
    """Makes moto's DynamoDB handle one request at a time, as DynamoDB serialises item writes.

    moto lets concurrent requests interleave (traps.md §3b): two conditional updates of one
    item can both succeed, and an ``UpdateItem`` builds its ``ReturnValues`` from the live item
    after the write, so two racing pings can both be told the same ``n_pings``. Holding one lock
    around the whole of ``DynamoHandler.call_action`` (the backend call *and* the reply) makes
    every request atomic. Reads take it too: a reply built while another request mutates the
    item could mix the two states. It is per process, like moto's in-memory backend it guards.
    The test harness (in-process ``mock_aws``) and the local stack (``ThreadedMotoServer``)
    both use this one class. ``writes`` counts requests that may change data, so the local
    stack saves its state file only when something changed.
    """

    READ_ACTIONS = frozenset(
        {
            "BatchGetItem",
            "DescribeContinuousBackups",
            "DescribeTable",
            "DescribeTimeToLive",
            "GetItem",
            "ListTables",
            "ListTagsOfResource",
            "Query",
            "Scan",
            "TransactGetItems",
        }
    )

    def __init__(self) -> None:
        self.lock: Any = threading.RLock()
        self.writes = 0

    def install(self) -> None:
        """Idempotent: patch moto's handler class once per process."""
        from moto.dynamodb.responses import DynamoHandler

        original = DynamoHandler.call_action
        if getattr(original, "atomic_dynamodb", None) is self:
            return
        guard = self

        @functools.wraps(original)
        def call_action(handler: Any) -> Any:
            with guard.lock:
                if handler._get_action() not in guard.READ_ACTIONS:
                    guard.writes += 1
                return original(handler)

        call_action.atomic_dynamodb = self  # type: ignore[attr-defined]
        setattr(DynamoHandler, "call_action", call_action)  # noqa: B010 (mypy: method assignment)


ATOMIC_DYNAMODB = AtomicDynamoDB()


def start_moto(host: str, port: int) -> Any:
    from moto.server import ThreadedMotoServer

    ATOMIC_DYNAMODB.install()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server


def subscribe_printer(topic_arn: str) -> str:
    """A local SQS queue on the topic: the printer reads alerts exactly as a subscriber would."""
    from chalicelib.wiring import aws_client

    sqs, sns = aws_client("sqs"), aws_client("sns")
    queue_url = sqs.create_queue(QueueName=ALERT_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return str(queue_url)


def format_alert_line(envelope: dict[str, Any]) -> str:
    """One readable line per alert, then the machine document."""
    document = json.loads(envelope["Message"])
    flip = document["flip"]
    reason = f" ({document['reason']})" if document.get("reason") else ""
    return (
        f"ALERT {envelope.get('Subject', '')}{reason} at {flip['at']} flip={flip['id']}\n"
        f"      {json.dumps(document, sort_keys=True)}"
    )


def print_alerts(queue_url: str, stop: threading.Event) -> None:
    from chalicelib.wiring import aws_client

    sqs = aws_client("sqs")
    while not stop.is_set():
        reply = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1, MaxNumberOfMessages=10)
        for message in reply.get("Messages", []):
            print(format_alert_line(json.loads(message["Body"])), flush=True)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def run_sweeper(every: float, stop: threading.Event) -> None:
    from chalicelib import sweeps
    from chalicelib.wiring import deps

    while not stop.wait(every):
        try:
            report = sweeps.sweep(deps(), utc_now())
        except Exception as error:  # keep sweeping: the next pass retries
            print(f"sweep failed: {error!r}", file=sys.stderr, flush=True)
            continue
        if report.due:
            print(f"sweep: {vars(report)}", flush=True)


def keep_saving(save: Callable[[], None], every: float, stop: threading.Event) -> None:
    """Save whenever the table changed since the last save began, at most once per ``every``.

    The write count is read before the save scans, so a write racing the scan triggers the
    next save: on SIGKILL at most ``every`` plus one save's duration of writes is lost.
    """
    saved_writes = ATOMIC_DYNAMODB.writes
    while not stop.wait(every):
        writes = ATOMIC_DYNAMODB.writes
        if writes == saved_writes:
            continue
        try:
            save()
        except Exception as error:  # keep the data in memory; the next pass retries
            print(f"saving the local data failed: {error!r}", file=sys.stderr, flush=True)
            continue
        saved_writes = writes


# --- the state file ---------------------------------------------------------------------------


def state_file(environ: dict[str, str] | None = None) -> Path:
    environ = dict(os.environ) if environ is None else environ
    return Path(environ.get("VIGIL_STATE_FILE") or DEFAULT_STATE_FILE)


class StateFile:
    """The local table on disk (JSON), with the demo project's keys.

    Keys are stored only hashed in the table, so the demo keys are kept here in plain text to
    print them again after a restart. This is the local development stack; nothing here is
    ever used by a deployment.
    """

    def __init__(self, path: Path, table: str = DEFAULT_TABLE) -> None:
        self.path = path
        self.table = table
        self.demo: dict[str, str] | None = None
        self._lock = threading.Lock()

    def load(self, dynamodb: Any) -> int:
        """Put every saved item back into the table; returns how many."""
        if not self.path.exists():
            return 0
        try:
            state = json.loads(self.path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(
                f"{self.path} is not a Vigil state file ({error}); move it away"
            ) from None
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{self.path}: unknown state version {state.get('version')!r}")
        self.demo = state.get("demo")
        items = [decode_item(item) for item in state["items"]]
        for start in range(0, len(items), BATCH_WRITE_ITEMS):
            batch = items[start : start + BATCH_WRITE_ITEMS]
            requests = [{"PutRequest": {"Item": item}} for item in batch]
            dynamodb.batch_write_item(RequestItems={self.table: requests})
        return len(items)

    def save(self, dynamodb: Any) -> None:
        """Scan the table (fine locally, never in the app) and replace the file atomically."""
        with self._lock:
            pages = dynamodb.get_paginator("scan").paginate(TableName=self.table)
            items = [encode_item(item) for page in pages for item in page.get("Items", [])]
            state = {"version": STATE_VERSION, "demo": self.demo, "items": items}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(state, sort_keys=True))
            os.replace(partial, self.path)


def encode_item(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as JSON: binary values become base64 text."""
    return {name: _encode_value(value) for name, value in item.items()}


def decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_value(value) for name, value in item.items()}


def _encode_value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(inner).decode()}
    if kind == "BS":
        return {"BS": [base64.b64encode(b).decode() for b in inner]}
    if kind == "M":
        return {"M": encode_item(inner)}
    if kind == "L":
        return {"L": [_encode_value(v) for v in inner]}
    return value


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(b) for b in inner]}
    if kind == "M":
        return {"M": decode_item(inner)}
    if kind == "L":
        return {"L": [_decode_value(v) for v in inner]}
    return value


def demo_instructions(api: str, keys: dict[str, str]) -> str:
    create = (
        f"curl -s -X POST {api}/api/v3/checks/ -H 'X-Api-Key: {keys['api_key']}' "
        '-d \'{"name": "demo", "timeout": 60, "grace": 60}\''
    )
    return "\n".join(
        [
            f"Vigil is running on {api}  (embedded AWS at {os.environ['AWS_ENDPOINT_URL']})",
            "Demo project:",
            json.dumps(keys, indent=2),
            "Create a check and ping it (paste into another terminal):",
            f"  UUID=$({create} | {EXTRACT_UUID}) && curl -fsS {api}/ping/$UUID && echo",
            f"Dashboard (signs in with the read-write key): {api}/#key={keys['api_key']}",
            "Then stay silent: a DOWN alert prints here after timeout + grace; ping again for UP.",
            "Ctrl-C stops everything.",
        ]
    )


def serve_forever(
    host: str, port: int, moto_port: int, sweep_every: float, state_path: Path | None = None
) -> None:
    # moto logs every AWS call and each sweep logs a JSON line; alerts are what matter here.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("vigil.events").setLevel(logging.WARNING)
    metrics.set_sink(None)  # EMF lines are for CloudWatch; locally they would drown the alerts
    use_embedded_aws(moto_port)
    moto = start_moto(host, moto_port)
    stop = threading.Event()
    server = state = None
    writers: list[threading.Thread] = []
    try:
        state = StateFile(state_path or state_file())
        server, banner, writers = _start_stack(host, port, sweep_every, stop, state)
        print(banner, flush=True)
        # A shell starting us in the background sets SIGINT to "ignore"; restore Ctrl-C.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopping", flush=True)
    finally:
        stop.set()
        if server is not None:
            server.server.server_close()
        _save_last(state, writers)
        moto.stop()


def _save_last(state: StateFile | None, writers: list[threading.Thread]) -> None:
    """Let a running sweep or save finish, then save once more, while moto still answers."""
    if state is None or not writers:
        return
    from chalicelib.wiring import aws_client

    for thread in writers:
        thread.join(timeout=30)
    state.save(aws_client("dynamodb"))
    print(f"saved the local data to {state.path}", flush=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _start_stack(
    host: str, port: int, sweep_every: float, stop: threading.Event, state: StateFile
) -> tuple[Any, str, list[threading.Thread]]:
    from chalicelib.cli import run_bootstrap
    from chalicelib.wiring import aws_client

    created = run_bootstrap()
    os.environ["VIGIL_TABLE"] = state.table = created["table"]
    os.environ["VIGIL_TOPIC_ARN"] = created["topic_arn"]
    local_notifier.configure(created["topic_arn"])
    dynamodb = aws_client("dynamodb")
    restored = state.load(dynamodb)
    keys = _demo_keys(state)
    state.save(dynamodb)
    queue_url = subscribe_printer(created["topic_arn"])
    threading.Thread(target=print_alerts, args=(queue_url, stop), daemon=True).start()
    local_notifier.start(stop)
    sweeper = threading.Thread(target=run_sweeper, args=(sweep_every, stop), daemon=True)
    saver = threading.Thread(
        target=keep_saving,
        args=(lambda: state.save(dynamodb), SAVE_EVERY_SECONDS, stop),
        daemon=True,
    )
    sweeper.start()
    saver.start()
    server = _chalice_server(host, port)
    banner = demo_instructions(f"http://{host}:{port}", keys)
    if restored:
        banner = f"Restored {restored} items from {state.path}\n" + banner
    return server, banner, [sweeper, saver]


def _demo_keys(state: StateFile) -> dict[str, str]:
    """The saved demo project if its keys still resolve, else a new one (saved with the rest)."""
    from chalicelib.management import create_project
    from chalicelib.wiring import deps

    if state.demo and deps().store.resolve_key(state.demo["api_key"]) is not None:
        return state.demo
    state.demo = vars(create_project(deps(), "demo"))
    return state.demo


def _chalice_server(host: str, port: int) -> Any:
    sys.path.insert(0, str(PROJECT_DIR))
    from chalice.cli.factory import CLIFactory
    from chalice.local import ThreadedHTTPServer

    import app as vigil_app

    # socketserver's default backlog of 5 resets connections when a few dozen clients ping
    # at once (measured: 16 concurrent clients); a server gets the usual 128.
    ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    factory = CLIFactory(str(PROJECT_DIR))
    config = factory.create_config_obj(chalice_stage_name="dev")
    return factory.create_local_server(vigil_app.app, config, host, port)
