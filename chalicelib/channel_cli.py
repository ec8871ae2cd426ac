"""The channel subcommands of the operator CLI: the API's channel calls, for one project.

    python -m chalicelib.cli add-channel PROJECT --kind slack --name ops --url https://hooks...
    python -m chalicelib.cli list-channels PROJECT
    python -m chalicelib.cli delete-channel PROJECT CHANNEL_ID

``PROJECT`` is the id ``create-project`` printed. The flags are the API body's fields, so the
same validation, errors and output apply; a secret passed as a flag is visible in the shell's
history, so ``--url-file``/``--secret-file`` style input is ``-`` (read the value from stdin).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from chalicelib import channel_service
from chalicelib.clock import utc_now
from chalicelib.deps import Deps

CHANNEL_COMMANDS = ("add-channel", "list-channels", "delete-channel")
FIELDS = ("url", "secret", "routing_key", "api_key", "region", "topic_arn", "format")


def add_channel_commands(commands: Any) -> None:
    add = commands.add_parser("add-channel", help="add an alert channel to a project")
    add.add_argument("project", help="the project id create-project printed")
    add.add_argument("--kind", required=True)
    add.add_argument("--name", default="")
    for name in FIELDS:
        add.add_argument(
            "--" + name.replace("_", "-"), dest=name, help=f"{name}; '-' reads it from stdin"
        )
    listing = commands.add_parser("list-channels", help="a project's channels, as the API lists")
    listing.add_argument("project")
    delete = commands.add_parser("delete-channel", help="remove a channel (and from its checks)")
    delete.add_argument("project")
    delete.add_argument("channel_id")


def run_channel_command(args: argparse.Namespace, deps: Deps) -> Any:
    if args.command == "list-channels":
        return {"channels": channel_service.list_channels(deps, args.project)}
    if args.command == "delete-channel":
        channel_service.delete_channel(deps, args.project, args.channel_id)
        return {"id": args.channel_id, "deleted": True}
    body: dict[str, Any] = {"kind": args.kind, "name": args.name}
    for name in FIELDS:
        value = getattr(args, name)
        if value is not None:
            body[name] = sys.stdin.readline().strip() if value == "-" else value
    return channel_service.create_channel(deps, args.project, body, utc_now())


def find_topic_arn(sns: Any, name: str) -> str:
    """The ARN of the deployment's topic by name (what bootstrap created)."""
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return str(topic["TopicArn"])
    raise SystemExit(f"no SNS topic named {name!r}: run bootstrap, or set VIGIL_TOPIC_ARN")
