"""Operator commands: ``python -m chalicelib.cli bootstrap | create-project NAME | serve``, and
the alert channels of a project: ``add-channel``, ``list-channels``, ``delete-channel``; and
``migrate backfill | prune-log`` (the data migration, for a table CloudFormation owns).

All of them use the usual AWS environment, and ``AWS_ENDPOINT_URL`` to reach a local moto.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chalicelib import migration
from chalicelib.bootstrap import DEFAULT_TABLE, DEFAULT_TOPIC_NAME, bootstrap
from chalicelib.channel_cli import (
    CHANNEL_COMMANDS,
    add_channel_commands,
    find_topic_arn,
    run_channel_command,
)
from chalicelib.deps import Deps
from chalicelib.dynamo import DynamoStore
from chalicelib.errors import VigilError
from chalicelib.management import create_project
from chalicelib.settings import Settings
from chalicelib.wiring import aws_client, build_deps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="create or confirm the table and alert topic")
    project = commands.add_parser("create-project", help="create a project and its keys")
    project.add_argument("name")
    serve = commands.add_parser("serve", help="run the whole stack locally on embedded AWS")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--moto-port", type=int, default=4566)
    serve.add_argument("--sweep-every", type=float, default=10.0, help="seconds between sweeps")
    serve.add_argument(
        "--state-file",
        type=Path,
        default=None,
        help="where the local data is kept (default .vigil/state.json, or VIGIL_STATE_FILE)",
    )
    migrate = commands.add_parser(
        "migrate", help="bring a table of an older release up to date (make deploy does it)"
    )
    migrate.add_argument("step", choices=("backfill", "prune-log"))
    add_channel_commands(commands)
    args = parser.parse_args(argv)
    if args.command in CHANNEL_COMMANDS:
        try:
            print(json.dumps(run_channel_command(args, _channel_deps())))
        except VigilError as error:  # the API's 4xx text, e.g. a channel field that is wrong
            print(f"{args.command}: {error.message}", file=sys.stderr)
            return 1
    elif args.command == "migrate":
        print(json.dumps(vars(run_migration(args.step))))
    elif args.command == "bootstrap":
        print(json.dumps(run_bootstrap()))
    elif args.command == "create-project":
        print(json.dumps(vars(create_project(_project_deps(), args.name))))
    else:
        from chalicelib.local import serve_forever  # heavy: moto and the chalice dev server

        serve_forever(args.host, args.port, args.moto_port, args.sweep_every, args.state_file)
    return 0


def run_bootstrap() -> dict[str, str]:
    return bootstrap(
        aws_client("dynamodb"),
        aws_client("sns"),
        os.environ.get("VIGIL_TABLE") or DEFAULT_TABLE,
        os.environ.get("VIGIL_TOPIC_NAME") or DEFAULT_TOPIC_NAME,
    )


def run_migration(step: str) -> migration.MigrationReport:
    """A step of ``chalicelib.migration`` on ``VIGIL_TABLE``, for a CloudFormation-owned table."""
    table = os.environ.get("VIGIL_TABLE") or DEFAULT_TABLE
    settings = Settings.from_env({"VIGIL_TABLE": table, "VIGIL_TOPIC_ARN": "-", **os.environ})
    report = migration.MigrationReport()
    dynamodb = aws_client("dynamodb")
    if step == "backfill":
        migration.backfill_buckets(dynamodb, table, settings.due_shards, report)
    else:
        migration.delete_unlisted_legacy_pings(dynamodb, table, settings.ping_log_limit, report)
    return report


def _project_deps() -> Deps:
    # Creating a project needs only the table; the topic is irrelevant here.
    table = os.environ.get("VIGIL_TABLE") or DEFAULT_TABLE
    settings = Settings(table=table, topic_arn=os.environ.get("VIGIL_TOPIC_ARN", ""))
    built = build_deps(settings)
    assert isinstance(built.store, DynamoStore)
    return built


def _channel_deps() -> Deps:
    """The table, the topic (its channel id) and the key that seals channel secrets."""
    table = os.environ.get("VIGIL_TABLE") or DEFAULT_TABLE
    topic_arn = os.environ.get("VIGIL_TOPIC_ARN") or find_topic_arn(
        aws_client("sns"), os.environ.get("VIGIL_TOPIC_NAME") or DEFAULT_TOPIC_NAME
    )
    environ = {**os.environ, "VIGIL_TABLE": table, "VIGIL_TOPIC_ARN": topic_arn}
    return build_deps(Settings.from_env(environ))


if __name__ == "__main__":
    sys.exit(main())
