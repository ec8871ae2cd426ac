"""``make deploy STAGE=...`` and ``make destroy STAGE=...``: Vigil in an AWS account, one command.

    python -m tools.deploy deploy --stage prod
    python -m tools.deploy destroy --stage prod [--delete-data]

Credentials and region come from the usual AWS chain (environment, profile, SSO, instance role).

Deploy, every step idempotent, so a re-run changes nothing that exists:
1. the table and the encrypted alert topic (chalicelib/bootstrap.py);
2. the stage's ``.chalice/config.json`` entry: ``VIGIL_TABLE`` and ``VIGIL_TOPIC_ARN``, and per
   function an ``iam_policy_file`` rendered from ``.chalice/grants-<function>.json`` with the
   real ARNs (files are rewritten only when their content changes);
3. ``chalice deploy --stage <stage>``;
4. the watchman alarms (tools/alarms.py) on the deployed functions, alerting the same topic;
5. the ping base URL, the Management API URL and the dashboard's, printed.

Names: ``VIGIL_TABLE`` / ``VIGIL_TOPIC_NAME`` if set, else what the stage used before, else
``vigil-<stage>`` and ``vigil-<stage>-alerts``. Each stage gets its own table and topic,
because two sweepers sharing one table would both alert for every check.

Destroy: ``chalice delete``, then the alarms. The table (deletion-protected), the topic (its
subscriptions) and the key stay unless ``--delete-data``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.bootstrap import Provisioned, provision
from tools.alarms import alarms
from tools.paths import ROOT, tool
from tools.policy import FUNCTIONS, Arns, deployed_policy, stage_policy_file
from tools.template import PACKAGE_STAGE

APP_NAME = "vigil"
API_STAGE = "api"
KEY_DELETION_DAYS = 7

Runner = Callable[[list[str], Path], None]
Print = Callable[[str], None]


@dataclass(frozen=True)
class Aws:
    dynamodb: Any
    sns: Any
    kms: Any
    cloudwatch: Any


@dataclass(frozen=True)
class Deployed:
    api_function: str
    sweep_function: str
    rest_api_url: str


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.deploy", description=__doc__)
    parser.add_argument("command", choices=["deploy", "destroy"])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--project-dir", type=Path, default=ROOT)
    parser.add_argument("--delete-data", action="store_true", help="destroy: table, topic, key too")
    args = parser.parse_args(argv)
    aws = _aws_clients()
    if aws is None:
        print("No AWS region: set AWS_DEFAULT_REGION or a profile with a region.", file=sys.stderr)
        return 2
    try:
        if args.command == "deploy":
            deploy(args.stage, args.project_dir, aws, _run, print)
        else:
            destroy(args.stage, args.project_dir, aws, _run, print, delete_data=args.delete_data)
    except (ValueError, RuntimeError, subprocess.CalledProcessError) as error:
        print(f"{args.command} failed: {error}", file=sys.stderr)
        return 1
    return 0


# --- deploy ------------------------------------------------------------------------------------


def deploy(stage: str, project_dir: Path, aws: Aws, run: Runner, say: Print) -> Deployed:
    if stage == PACKAGE_STAGE:
        # Its roles carry the logs grant only; make package adds the rest inside the stack.
        raise ValueError(f"stage {PACKAGE_STAGE!r} is reserved for make package")
    config_path = project_dir / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    table, topic_name = resource_names(stage, config, dict(os.environ))
    done = provision(aws.dynamodb, aws.sns, aws.kms, table, topic_name)
    say(f"Table:  {done.table}  ({done.table_arn})")
    say(f"Topic:  {done.topic_arn}  (key {done.topic_key_arn})")
    changed = write_stage_config(stage, project_dir, config, done)
    say(f"Config: stage {stage!r} in .chalice/ " + ("updated" if changed else "unchanged"))
    run([tool("chalice"), "deploy", "--stage", stage], project_dir)
    deployed = read_deployed(project_dir, stage)
    specs = alarm_specs(stage, deployed, done.topic_arn)
    say(f"Alarms: {len(specs)}, {ensure_alarms(aws.cloudwatch, specs)} written")
    say(f"Ping base URL: {deployed.rest_api_url}ping/")
    say(f"API URL:       {deployed.rest_api_url}api/v3/")
    say(f"Dashboard:     {deployed.rest_api_url}  (sign in with a project's API key)")
    return deployed


def resource_names(stage: str, config: dict[str, Any], environ: dict[str, str]) -> tuple[str, str]:
    """Explicit names win, then the names this stage already uses, then per-stage defaults."""
    previous = config.get("stages", {}).get(stage, {}).get("environment_variables", {})
    table = environ.get("VIGIL_TABLE") or previous.get("VIGIL_TABLE") or f"{APP_NAME}-{stage}"
    topic_arn = previous.get("VIGIL_TOPIC_ARN", "")
    topic = (
        environ.get("VIGIL_TOPIC_NAME")
        or (topic_arn.rsplit(":", 1)[-1] if topic_arn else "")
        or f"{APP_NAME}-{stage}-alerts"
    )
    return table, topic


def write_stage_config(
    stage: str, project_dir: Path, config: dict[str, Any], done: Provisioned
) -> bool:
    """Point the stage at its table, topic and policies. True if any file changed."""
    chalice_dir = project_dir / ".chalice"
    arns = Arns(done.table_arn, done.topic_arn, done.topic_key_arn)
    changed = False
    for function in FUNCTIONS:
        policy = deployed_policy(function, arns, chalice_dir)
        changed |= _write_if_changed(chalice_dir / stage_policy_file(stage, function), policy)
    settings = config.setdefault("stages", {}).setdefault(stage, {})
    settings.setdefault("api_gateway_stage", API_STAGE)
    settings.setdefault("environment_variables", {}).update(
        VIGIL_TABLE=done.table, VIGIL_TOPIC_ARN=done.topic_arn
    )
    functions = settings.setdefault("lambda_functions", {})
    for function in FUNCTIONS:
        functions.setdefault(function, {})["iam_policy_file"] = stage_policy_file(stage, function)
    return _write_if_changed(chalice_dir / "config.json", config) or changed


def read_deployed(project_dir: Path, stage: str) -> Deployed:
    """What ``chalice deploy`` recorded in ``.chalice/deployed/<stage>.json``."""
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    resources = {r["name"]: r for r in json.loads(path.read_text())["resources"]}
    return Deployed(
        api_function=resources["api_handler"]["lambda_arn"].rsplit(":", 1)[-1],
        sweep_function=resources["sweep"]["lambda_arn"].rsplit(":", 1)[-1],
        rest_api_url=resources["rest_api"]["rest_api_url"],
    )


def alarm_specs(stage: str, deployed: Deployed, topic_arn: str) -> list[dict[str, Any]]:
    return list(
        alarms(
            name=lambda suffix: f"{APP_NAME}-{stage}-{suffix}",
            api_function=deployed.api_function,
            sweep_function=deployed.sweep_function,
            topic=topic_arn,
        ).values()
    )


def ensure_alarms(cloudwatch: Any, specs: list[dict[str, Any]]) -> int:
    """PutMetricAlarm only where the alarm is missing or differs; returns how many were written."""
    names = [spec["AlarmName"] for spec in specs]
    existing = {
        alarm["AlarmName"]: alarm
        for alarm in cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    }
    written = 0
    for spec in specs:
        current = existing.get(spec["AlarmName"], {})
        if any(current.get(key) != value for key, value in spec.items()):
            cloudwatch.put_metric_alarm(**spec)
            written += 1
    return written


# --- destroy -----------------------------------------------------------------------------------


def destroy(
    stage: str, project_dir: Path, aws: Aws, run: Runner, say: Print, *, delete_data: bool
) -> None:
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    table, topic_name = resource_names(stage, config, {})
    if (project_dir / ".chalice" / "deployed" / f"{stage}.json").exists():
        run([tool("chalice"), "delete", "--stage", stage], project_dir)
    names = [spec["AlarmName"] for spec in alarm_specs(stage, Deployed("", "", ""), "")]
    found = aws.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    if found:
        aws.cloudwatch.delete_alarms(AlarmNames=[alarm["AlarmName"] for alarm in found])
    say(f"Removed the app of stage {stage!r} and {len(found)} alarms.")
    if not delete_data:
        say(f"Kept table {table}, topic {topic_name} and its key: rerun with --delete-data to go.")
        return
    _delete_data(aws, table, topic_name)
    say(f"Deleted table {table} and topic {topic_name}; the key goes in {KEY_DELETION_DAYS} days.")


def _delete_data(aws: Aws, table: str, topic_name: str) -> None:
    try:
        aws.dynamodb.update_table(TableName=table, DeletionProtectionEnabled=False)
        aws.dynamodb.delete_table(TableName=table)
    except aws.dynamodb.exceptions.ResourceNotFoundException:
        pass
    alias = f"alias/{topic_name}"
    try:
        key = aws.kms.describe_key(KeyId=alias)["KeyMetadata"]
    except aws.kms.exceptions.NotFoundException:
        return
    _, partition, _, region, account, _ = key["Arn"].split(":", 5)
    aws.sns.delete_topic(TopicArn=f"arn:{partition}:sns:{region}:{account}:{topic_name}")
    aws.kms.delete_alias(AliasName=alias)
    aws.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=KEY_DELETION_DAYS)


# --- plumbing ----------------------------------------------------------------------------------


def _write_if_changed(path: Path, document: dict[str, Any]) -> bool:
    text = json.dumps(document, indent=2) + "\n"
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    return True


def _aws_clients() -> Aws | None:
    import boto3

    session = boto3.session.Session()
    if not session.region_name:
        return None
    return Aws(*(session.client(name) for name in ("dynamodb", "sns", "kms", "cloudwatch")))


def _run(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True)


if __name__ == "__main__":
    sys.exit(main())
