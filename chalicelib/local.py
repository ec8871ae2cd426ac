"""The local stack behind ``make run``: embedded AWS, the API, the sweeper and an alert printer.

Everything runs in this one process (moto's threaded server, the Chalice dev server, two
daemon threads), so Ctrl-C stops all of it and leaves nothing behind.

The data survives restarts: every item of the table is saved to a state file
(``.vigil/state.json`` by default, ``VIGIL_STATE_FILE`` to change it) after each sweep and on
shutdown, and loaded back before anything else runs. A crash loses at most one sweep interval.
Only the table is saved; the topic and the printer's queue are recreated on every start.
"""

from __future__ import annotations

import base64
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

from chalicelib import metrics
from chalicelib.bootstrap import DEFAULT_TABLE
from chalicelib.clock import utc_now

PROJECT_DIR = Path(__file__).resolve().parent.parent
ALERT_QUEUE = "vigil-local-alerts"
DEFAULT_STATE_FILE = PROJECT_DIR / ".vigil" / "state.json"
STATE_VERSION = 1
BATCH_WRITE_ITEMS = 25
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


def start_moto(host: str, port: int) -> Any:
    from moto.server import ThreadedMotoServer

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


def run_sweeper(every: float, stop: threading.Event, after_each: Callable[[], None]) -> None:
    from chalicelib import service
    from chalicelib.wiring import deps

    while not stop.wait(every):
        try:
            report = service.sweep(deps(), utc_now())
            after_each()
        except Exception as error:  # keep sweeping: the next pass retries
            print(f"sweep failed: {error!r}", file=sys.stderr, flush=True)
            continue
        if report.due:
            print(f"sweep: {vars(report)}", flush=True)


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
    server = state = sweeper = None
    try:
        state = StateFile(state_path or state_file())
        server, banner, sweeper = _start_stack(host, port, sweep_every, stop, state)
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
        _save_last(state, sweeper)
        moto.stop()


def _save_last(state: StateFile | None, sweeper: threading.Thread | None) -> None:
    """Let a running sweep finish, then save once more, while moto still answers."""
    if state is None or sweeper is None:
        return
    from chalicelib.wiring import aws_client

    sweeper.join(timeout=30)
    state.save(aws_client("dynamodb"))
    print(f"saved the local data to {state.path}", flush=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _start_stack(
    host: str, port: int, sweep_every: float, stop: threading.Event, state: StateFile
) -> tuple[Any, str, threading.Thread]:
    from chalicelib.cli import run_bootstrap
    from chalicelib.wiring import aws_client

    created = run_bootstrap()
    os.environ["VIGIL_TABLE"] = state.table = created["table"]
    os.environ["VIGIL_TOPIC_ARN"] = created["topic_arn"]
    dynamodb = aws_client("dynamodb")
    restored = state.load(dynamodb)
    keys = _demo_keys(state)
    state.save(dynamodb)
    queue_url = subscribe_printer(created["topic_arn"])
    threading.Thread(target=print_alerts, args=(queue_url, stop), daemon=True).start()
    sweeper = threading.Thread(
        target=run_sweeper, args=(sweep_every, stop, lambda: state.save(dynamodb)), daemon=True
    )
    sweeper.start()
    server = _chalice_server(host, port)
    banner = demo_instructions(f"http://{host}:{port}", keys)
    if restored:
        banner = f"Restored {restored} items from {state.path}\n" + banner
    return server, banner, sweeper


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

    import app as vigil_app

    factory = CLIFactory(str(PROJECT_DIR))
    config = factory.create_config_obj(chalice_stage_name="dev")
    return factory.create_local_server(vigil_app.app, config, host, port)
