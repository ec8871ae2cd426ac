"""The ``vigil`` command: ``vigil run [options] -- CMD ARGS...``."""

from __future__ import annotations

import argparse
import os
import sys

from vigil_client.pinger import DEFAULT_RETRIES, DEFAULT_TIMEOUT, pinger_or_none
from vigil_client.runner import run_command

USAGE_ERROR = 2


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="vigil", description="Heartbeats for jobs, sent to Vigil (Healthchecks-compatible)."
    )
    commands = top.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run a command and report its start, progress and exit status",
        description="Run CMD as it would run alone; report start, progress and its exit status "
        "(with the tail of its output) to the check's ping URL. Exits with CMD's status.",
    )
    run.add_argument("--url", help="the check's ping URL (default: $VIGIL_PING_URL)")
    run.add_argument(
        "--progress-every",
        type=float,
        default=0,
        metavar="S",
        help="send a progress ping every S seconds while CMD runs (default 0: off)",
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="S",
        help=f"seconds per request (default {DEFAULT_TIMEOUT:g})",
    )
    run.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help=f"retries of a failed start or exit ping (default {DEFAULT_RETRIES}); each of "
        "the two may add at most TIMEOUT x (N + 1) seconds",
    )
    run.add_argument(
        "--tail",
        type=int,
        default=10000,
        metavar="BYTES",
        help="send the last BYTES of CMD's output with the exit ping (default 10000)",
    )
    run.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not command:
        parser().error("run: give the command after --, e.g. vigil run -- ./backup.sh")
    if args.timeout <= 0 or args.retries < 0 or args.tail < 0 or args.progress_every < 0:
        parser().error(
            "run: --timeout must be positive; --retries, --tail, --progress-every not negative"
        )
    url = args.url or os.environ.get("VIGIL_PING_URL", "")
    pinger = pinger_or_none(url, args.timeout, args.retries, "--url or VIGIL_PING_URL")
    return run_command(command, pinger, args.progress_every, args.tail)


if __name__ == "__main__":
    sys.exit(main())
