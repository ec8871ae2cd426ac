"""The local stack behind ``make run``: embedded AWS, the API, the sweeper and an alert printer.

Everything runs in this one process (moto's threaded server, the Chalice dev server, two
daemon threads), so Ctrl-C stops all of it and leaves nothing behind.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from chalicelib.clock import utc_now

PROJECT_DIR = Path(__file__).resolve().parent.parent
ALERT_QUEUE = "vigil-local-alerts"
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


def run_sweeper(every: float, stop: threading.Event) -> None:
    from chalicelib import service
    from chalicelib.wiring import deps

    while not stop.wait(every):
        try:
            report = service.sweep(deps(), utc_now())
        except Exception as error:  # keep sweeping: the next pass retries
            print(f"sweep failed: {error!r}", file=sys.stderr, flush=True)
            continue
        if report.due:
            print(f"sweep: {vars(report)}", flush=True)


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
            "Then stay silent: a DOWN alert prints here after timeout + grace; ping again for UP.",
            "Ctrl-C stops everything.",
        ]
    )


def serve_forever(host: str, port: int, moto_port: int, sweep_every: float) -> None:
    # moto logs every AWS call and each sweep logs a JSON line; alerts are what matter here.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("vigil.events").setLevel(logging.WARNING)
    use_embedded_aws(moto_port)
    moto = start_moto(host, moto_port)
    stop = threading.Event()
    server = None
    try:
        server, banner = _start_stack(host, port, sweep_every, stop)
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
        moto.stop()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _start_stack(
    host: str, port: int, sweep_every: float, stop: threading.Event
) -> tuple[Any, str]:
    from chalicelib.cli import run_bootstrap
    from chalicelib.service import create_project
    from chalicelib.wiring import deps

    created = run_bootstrap()
    os.environ["VIGIL_TABLE"] = created["table"]
    os.environ["VIGIL_TOPIC_ARN"] = created["topic_arn"]
    queue_url = subscribe_printer(created["topic_arn"])
    keys = vars(create_project(deps(), "demo"))
    threading.Thread(target=print_alerts, args=(queue_url, stop), daemon=True).start()
    threading.Thread(target=run_sweeper, args=(sweep_every, stop), daemon=True).start()
    server = _chalice_server(host, port)
    return server, demo_instructions(f"http://{host}:{port}", keys)


def _chalice_server(host: str, port: int) -> Any:
    sys.path.insert(0, str(PROJECT_DIR))
    from chalice.cli.factory import CLIFactory

    import app as vigil_app

    factory = CLIFactory(str(PROJECT_DIR))
    config = factory.create_config_obj(chalice_stage_name="dev")
    return factory.create_local_server(vigil_app.app, config, host, port)
