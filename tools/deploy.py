"""``make deploy STAGE=...`` and ``make destroy STAGE=...``: Vigil in an AWS account, one command.

    python -m tools.deploy deploy --stage prod
    python -m tools.deploy destroy --stage prod [--delete-data]

Credentials and region come from the usual AWS chain (environment, profile, SSO, instance role).

Deploy, every step idempotent, so a re-run changes nothing that exists:
1. the table and the encrypted alert topic (chalicelib/bootstrap.py), and the notifier's queue,
   its dead letters and the topic's subscription (chalicelib/notify_setup.py);
2. the stage's ``.chalice/config.json`` entry: ``VIGIL_TABLE`` and ``VIGIL_TOPIC_ARN``, and per
   function an ``iam_policy_file`` rendered from ``.chalice/grants-<function>.json`` with the
   real ARNs (files are rewritten only when their content changes);
3. the data migration's first half (chalicelib/migration.py ``prepare``: the bucketed due index,
   backfilled and ACTIVE before any code reads it), then ``chalice deploy --stage <stage>``, then
   its second half (``finish``: catch up with the old code's last writes, drop the old index,
   delete old ping-log items past the retention); on an up-to-date table both only read;
4. the ``ping`` function's own Handler (``tools.template.PING_HANDLER``, not chalice's
   ``app.ping_url``), its public function URL and its two resource-policy statements,
   ``VIGIL_PING_ENDPOINT`` (that URL's ``ping/``, so every check's ping_url names it) on the
   functions that render check JSON, and every function's log settings (JSON, platform lines
   at WARN), which chalice cannot set;
5. the watchman alarms (tools/alarms.py) on the deployed functions, alerting the same topic;
6. both bases, printed: the function URL for pings, the REST API for pings behind a custom
   domain or WAF, the Management API and the dashboard.

Names: ``VIGIL_TABLE`` / ``VIGIL_TOPIC_NAME`` if set, else what the stage used before, else
``vigil-<stage>`` and ``vigil-<stage>-alerts``. Each stage gets its own table and topic,
because two sweepers sharing one table would both alert for every check.

Destroy: ``chalice delete``, then the alarms. The table (deletion-protected), the topic (its
subscriptions) and the key stay unless ``--delete-data``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import migration
from chalicelib.bootstrap import Provisioned, provision
from chalicelib.errors import ConfigError
from chalicelib.notify_setup import NotifyQueues, ensure_notify_queues, queue_names
from tools.alarms import alarms
from tools.paths import ROOT, tool
from tools.policy import FUNCTIONS, Arns, deployed_policy, stage_policy_file
from tools.template import (
    LOGGING_CONFIG,
    PACKAGE_STAGE,
    PING_ENDPOINT_FUNCTIONS,
    PING_ENDPOINT_VARIABLE,
    PING_HANDLER,
    PING_URL_CORS,
    SITE_ROOT_VARIABLE,
    stage_settings,
)

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
    lambda_: Any
    sqs: Any


AWS_SERVICES = ("dynamodb", "sns", "kms", "cloudwatch", "lambda", "sqs")
# Statement ids of the function URL's public access (both needed since October 2025).
URL_STATEMENTS: dict[str, dict[str, Any]] = {
    "VigilPingUrlPublic": {"Action": "lambda:InvokeFunctionUrl", "FunctionUrlAuthType": "NONE"},
    "VigilPingUrlPublicInvoke": {"Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True},
}


@dataclass(frozen=True)
class Deployed:
    api_function: str
    sweep_function: str
    rest_api_url: str
    notify_function: str
    ping_function: str = ""


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
    except (ValueError, RuntimeError, ConfigError, subprocess.CalledProcessError) as error:
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
    queues = ensure_notify_queues(aws.sqs, aws.sns, done.topic_arn)
    say(f"Table:  {done.table}  ({done.table_arn})")
    say(f"Topic:  {done.topic_arn}  (key {done.topic_key_arn})")
    say(f"Queue:  {queues.url}  (dead letters {queues.dead_letter_url})")
    changed = write_stage_config(stage, project_dir, config, done, queues)
    say(f"Config: stage {stage!r} in .chalice/ " + ("updated" if changed else "unchanged"))
    shards, log_limit = _storage_settings(config, stage)
    say(_migration_line("before", migration.prepare(aws.dynamodb, done.table, shards)))
    with _notify_queue_named(queues.arn.rsplit(":", 1)[-1]):
        run([tool("chalice"), "deploy", "--stage", stage], project_dir)
    say(_migration_line("after", migration.finish(aws.dynamodb, done.table, shards, log_limit)))
    deployed = read_deployed(project_dir, stage)
    if ensure_ping_handler(aws.lambda_, deployed.ping_function):
        say(f"Handler: the ping function's set to {PING_HANDLER}")
    # AWS answers the URL with a trailing slash; moto without: join so that either works.
    ping_base = ensure_function_url(aws.lambda_, deployed.ping_function).rstrip("/") + "/ping/"
    if point_pings_at_the_api(aws.lambda_, project_dir, stage, config, deployed):
        say("Config: the ping function's VIGIL_SITE_ROOT set to the REST API")
    if point_check_json_at_the_url(aws.lambda_, project_dir, stage, config, deployed, ping_base):
        say("Config: VIGIL_PING_ENDPOINT set: the check JSON's ping_url names the ping base")
    functions = (
        deployed.api_function,
        deployed.sweep_function,
        deployed.ping_function,
        deployed.notify_function,
    )
    say(f"Logging: JSON, platform lines at WARN; {ensure_logging(aws.lambda_, functions)} updated")
    specs = alarm_specs(stage, deployed, done.topic_arn, queues.dead_letter_arn)
    say(f"Alarms: {len(specs)}, {ensure_alarms(aws.cloudwatch, specs)} written")
    say(f"Ping base URL: {ping_base}  (function URL: use this for pings)")
    say(f"REST pings:    {deployed.rest_api_url}ping/  (for a custom domain, WAF or throttling)")
    say(f"API URL:       {deployed.rest_api_url}api/v3/")
    say(f"Dashboard:     {deployed.rest_api_url}  (sign in with a project's API key)")
    return deployed


def _storage_settings(config: dict[str, Any], stage: str) -> tuple[int, int]:
    """The due shards and ping-log limit the deployed code will use (stage over global)."""
    settings = stage_settings(config, stage)
    return settings.due_shards, settings.ping_log_limit


def _migration_line(when: str, report: migration.MigrationReport) -> str:
    changes = [
        "due_buckets index created" if report.index_created else "",
        f"{report.buckets_written} due buckets written" if report.buckets_written else "",
        "old due index dropped" if report.index_dropped else "",
        f"{report.legacy_pings_deleted} old log items deleted"
        if report.legacy_pings_deleted
        else "",
    ]
    done = ", ".join(change for change in changes if change)
    return f"Migration ({when} chalice deploy): {done or 'up to date'}"


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


@contextlib.contextmanager
def _notify_queue_named(name: str) -> Iterator[None]:
    """app.py subscribes the notifier to ``VIGIL_NOTIFY_QUEUE``, read when chalice imports it."""
    previous = os.environ.get("VIGIL_NOTIFY_QUEUE")
    os.environ["VIGIL_NOTIFY_QUEUE"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("VIGIL_NOTIFY_QUEUE", None)
        else:
            os.environ["VIGIL_NOTIFY_QUEUE"] = previous


def write_stage_config(
    stage: str, project_dir: Path, config: dict[str, Any], done: Provisioned, queues: NotifyQueues
) -> bool:
    """Point the stage at its table, topic, queues and policies. True if any file changed."""
    chalice_dir = project_dir / ".chalice"
    arns = Arns(
        done.table_arn, done.topic_arn, done.topic_key_arn, queues.arn, queues.dead_letter_arn
    )
    changed = False
    for function in FUNCTIONS:
        policy = deployed_policy(function, arns, chalice_dir)
        changed |= _write_if_changed(chalice_dir / stage_policy_file(stage, function), policy)
    settings = config.setdefault("stages", {}).setdefault(stage, {})
    settings.setdefault("api_gateway_stage", API_STAGE)
    settings.setdefault("environment_variables", {}).update(
        VIGIL_TABLE=done.table,
        VIGIL_TOPIC_ARN=done.topic_arn,
        VIGIL_CHANNEL_KEY=done.topic_key_arn,
        VIGIL_NOTIFY_QUEUE_URL=queues.url,
        VIGIL_NOTIFY_DEAD_LETTER_URL=queues.dead_letter_url,
    )
    functions = settings.setdefault("lambda_functions", {})
    for function in FUNCTIONS:
        functions.setdefault(function, {})["iam_policy_file"] = stage_policy_file(stage, function)
    _drop_derived_values_the_operator_overrides(config, settings)
    return _write_if_changed(chalice_dir / "config.json", config) or changed


def _drop_derived_values_the_operator_overrides(
    config: dict[str, Any], settings: dict[str, Any]
) -> None:
    """A base URL the operator sets (global or stage) replaces the one deploy derived.

    Deploy writes its derived URLs per function, and chalice lets a function's own value win
    over the stage's, so a derived copy left behind would hide the operator's on every later
    ``chalice deploy``."""
    explicit = {
        **config.get("environment_variables", {}),
        **settings.get("environment_variables", {}),
    }
    for function in settings.get("lambda_functions", {}).values():
        variables = function.get("environment_variables", {})
        for name in (SITE_ROOT_VARIABLE, PING_ENDPOINT_VARIABLE):
            if name in explicit:
                variables.pop(name, None)
        if "environment_variables" in function and not variables:
            del function["environment_variables"]


def read_deployed(project_dir: Path, stage: str) -> Deployed:
    """What ``chalice deploy`` recorded in ``.chalice/deployed/<stage>.json``."""
    path = project_dir / ".chalice" / "deployed" / f"{stage}.json"
    resources = {r["name"]: r for r in json.loads(path.read_text())["resources"]}
    return Deployed(
        api_function=resources["api_handler"]["lambda_arn"].rsplit(":", 1)[-1],
        sweep_function=resources["sweep"]["lambda_arn"].rsplit(":", 1)[-1],
        rest_api_url=resources["rest_api"]["rest_api_url"],
        notify_function=resources["notify"]["lambda_arn"].rsplit(":", 1)[-1],
        ping_function=resources["ping"]["lambda_arn"].rsplit(":", 1)[-1],
    )


def ensure_function_url(lambda_client: Any, function: str) -> str:
    """The ping function's public URL and its permissions, created or corrected; its address."""
    try:
        current = lambda_client.get_function_url_config(FunctionName=function)
    except lambda_client.exceptions.ResourceNotFoundException:
        current = lambda_client.create_function_url_config(
            FunctionName=function, AuthType="NONE", Cors=PING_URL_CORS
        )
    if current["AuthType"] != "NONE" or current.get("Cors") != PING_URL_CORS:
        current = lambda_client.update_function_url_config(
            FunctionName=function, AuthType="NONE", Cors=PING_URL_CORS
        )
    granted = _policy_statement_ids(lambda_client, function)
    for statement_id, grant in URL_STATEMENTS.items():
        if statement_id not in granted:
            lambda_client.add_permission(
                FunctionName=function, StatementId=statement_id, Principal="*", **grant
            )
    return str(current["FunctionUrl"])


def point_pings_at_the_api(
    lambda_client: Any, project_dir: Path, stage: str, config: dict[str, Any], deployed: Deployed
) -> bool:
    """Checks made by ``?create=1`` through the function URL get the REST API's URLs.

    Unless the operator set ``VIGIL_SITE_ROOT`` (a custom domain), the ping function gets the
    REST API's base: in the stage's config for later deploys, and on the function now (the
    URL is only known after the first ``chalice deploy``). True if anything changed."""
    settings = config["stages"][stage]
    if SITE_ROOT_VARIABLE in {
        **config.get("environment_variables", {}),
        **settings.get("environment_variables", {}),
    }:
        return False
    root = deployed.rest_api_url.rstrip("/")
    ping = settings.setdefault("lambda_functions", {}).setdefault("ping", {})
    ping.setdefault("environment_variables", {})[SITE_ROOT_VARIABLE] = root
    changed = _write_if_changed(project_dir / ".chalice" / "config.json", config)
    return _set_variable(lambda_client, deployed.ping_function, SITE_ROOT_VARIABLE, root) or changed


def point_check_json_at_the_url(
    lambda_client: Any,
    project_dir: Path,
    stage: str,
    config: dict[str, Any],
    deployed: Deployed,
    endpoint: str,
) -> bool:
    """Every check's ping_url names the function URL, the cheap door (issue 10).

    Unless the operator set ``VIGIL_PING_ENDPOINT`` (e.g. CloudFront in front of the URL), the
    functions that render check JSON (the API, and the alerts of the sweeper and the pings) get
    ``<function URL>ping/``: in the stage's config for later deploys, and on the functions now
    (the URL is only known after the first ``chalice deploy``). An operator who set
    ``VIGIL_SITE_ROOT`` (a custom domain) gets ``<site root>/ping/`` instead, as Healthchecks'
    PING_ENDPOINT defaults to: jobs keep pinging the domain they were given, which may be the
    only one their firewall lets out, or the one behind a WAF. True if anything changed."""
    settings = config["stages"][stage]
    explicit = {
        **config.get("environment_variables", {}),
        **settings.get("environment_variables", {}),
    }
    if PING_ENDPOINT_VARIABLE in explicit:
        return False
    if SITE_ROOT_VARIABLE in explicit:
        endpoint = str(explicit[SITE_ROOT_VARIABLE]).rstrip("/") + "/ping/"
    names = {
        "api_handler": deployed.api_function,
        "sweep": deployed.sweep_function,
        "ping": deployed.ping_function,
    }
    functions = settings.setdefault("lambda_functions", {})
    for function in PING_ENDPOINT_FUNCTIONS:
        variables = functions.setdefault(function, {}).setdefault("environment_variables", {})
        variables[PING_ENDPOINT_VARIABLE] = endpoint
    changed = _write_if_changed(project_dir / ".chalice" / "config.json", config)
    for function in PING_ENDPOINT_FUNCTIONS:
        changed |= _set_variable(lambda_client, names[function], PING_ENDPOINT_VARIABLE, endpoint)
    return changed


def _set_variable(lambda_client: Any, function: str, name: str, value: str) -> bool:
    """One environment variable of a deployed function, the others kept; True if it changed."""
    current = lambda_client.get_function_configuration(FunctionName=function)
    variables = dict(current.get("Environment", {}).get("Variables", {}))
    if variables.get(name) == value:
        return False
    variables[name] = value
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)
    lambda_client.update_function_configuration(
        FunctionName=function, Environment={"Variables": variables}
    )
    return True


def ensure_ping_handler(lambda_client: Any, function: str) -> bool:
    """The ping function runs its own entry, not chalice's ``app.ping_url``; True if changed.

    ``chalice deploy`` names ``app.ping_url`` (which answers the same, through app.py); the
    entry skips importing the Chalice app, a smaller cold start (docs/performance.md)."""
    current = lambda_client.get_function_configuration(FunctionName=function)
    if current.get("Handler") == PING_HANDLER:
        return False
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)
    lambda_client.update_function_configuration(FunctionName=function, Handler=PING_HANDLER)
    return True


def ensure_logging(lambda_client: Any, functions: Sequence[str]) -> int:
    """Lambda's JSON log format with its own lines at WARN on each function; how many changed.

    ``chalice deploy`` cannot set LoggingConfig; a re-deploy keeps what this wrote."""
    changed = 0
    for function in functions:
        current = lambda_client.get_function_configuration(FunctionName=function)
        logging = current.get("LoggingConfig", {})
        if any(logging.get(key) != value for key, value in LOGGING_CONFIG.items()):
            lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function)
            lambda_client.update_function_configuration(
                FunctionName=function, LoggingConfig=LOGGING_CONFIG
            )
            changed += 1
    return changed


def _policy_statement_ids(lambda_client: Any, function: str) -> set[str]:
    try:
        policy = json.loads(lambda_client.get_policy(FunctionName=function)["Policy"])
    except lambda_client.exceptions.ResourceNotFoundException:
        return set()
    return {statement["Sid"] for statement in policy.get("Statement", [])}


def alarm_specs(
    stage: str, deployed: Deployed, topic_arn: str, dead_letter_arn: str
) -> list[dict[str, Any]]:
    return list(
        alarms(
            name=lambda suffix: f"{APP_NAME}-{stage}-{suffix}",
            api_function=deployed.api_function,
            sweep_function=deployed.sweep_function,
            topic=topic_arn,
            ping_function=deployed.ping_function,
            notify_function=deployed.notify_function,
            dead_letter_queue=dead_letter_arn.rsplit(":", 1)[-1],
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
    names = [spec["AlarmName"] for spec in alarm_specs(stage, Deployed("", "", "", ""), "", "")]
    found = aws.cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
    if found:
        aws.cloudwatch.delete_alarms(AlarmNames=[alarm["AlarmName"] for alarm in found])
    say(f"Removed the app of stage {stage!r} and {len(found)} alarms.")
    if not delete_data:
        say(f"Kept table {table}, topic {topic_name} and its key: rerun with --delete-data to go.")
        return
    _delete_data(aws, table, topic_name)
    _delete_queues(aws, topic_name)
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


def _delete_queues(aws: Aws, topic_name: str) -> None:
    for name in queue_names(topic_name):
        try:
            url = aws.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except aws.sqs.exceptions.QueueDoesNotExist:
            continue
        aws.sqs.delete_queue(QueueUrl=url)


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
    return Aws(*(session.client(name) for name in AWS_SERVICES))


def _run(command: list[str], cwd: Path) -> None:
    subprocess.run(command, cwd=cwd, check=True)


if __name__ == "__main__":
    sys.exit(main())
