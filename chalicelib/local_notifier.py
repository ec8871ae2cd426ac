"""The local stack's notifier: polls the notify queue on moto and delivers for real.

It plays the part the SQS event source mapping plays for the deployed Lambda: each message is
handled on its own worker (so a hung endpoint holds one worker, not the others) and deleted
once handled; a message whose handling raised comes back after the visibility timeout. Every
alert and each delivery attempt, with its HTTP status, are printed one under the other.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.clock import utc_now

WORKERS = 8


def configure(topic_arn: str) -> None:
    """Create the queues on moto and point the app at them; loopback URLs are allowed here."""
    from chalicelib.notify_setup import ensure_notify_queues
    from chalicelib.wiring import aws_client

    queues = ensure_notify_queues(aws_client("sqs"), aws_client("sns"), topic_arn)
    os.environ["VIGIL_NOTIFY_QUEUE_URL"] = queues.url
    os.environ["VIGIL_NOTIFY_DEAD_LETTER_URL"] = queues.dead_letter_url
    os.environ["VIGIL_ALLOW_LOOPBACK_URLS"] = "1"


def start(stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=run, args=(stop,), daemon=True, name="notifier")
    thread.start()
    return thread


def run(stop: threading.Event) -> None:
    from chalicelib.wiring import aws_client, build_notifier, deps

    notifier = build_notifier(deps(), say=lambda line: print(line, flush=True))
    sqs = aws_client("sqs")
    url = deps().settings.notify_queue_url
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="deliver") as pool:
        while not stop.is_set():
            reply = sqs.receive_message(
                QueueUrl=url,
                WaitTimeSeconds=1,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
            )
            for message in reply.get("Messages", []):
                pool.submit(_handle, notifier, sqs, url, message)


def _handle(notifier: Any, sqs: Any, url: str, message: dict[str, Any]) -> None:
    from chalicelib.notifier import handle_record

    record = {
        "body": message["Body"],
        "messageAttributes": {
            name: {"stringValue": value.get("StringValue", "")}
            for name, value in message.get("MessageAttributes", {}).items()
        },
    }
    try:
        handle_record(notifier, record, utc_now())
    except Exception as error:  # the message comes back after its visibility timeout
        print(f"notifier failed on a message: {error!r}", file=sys.stderr, flush=True)
        return
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
