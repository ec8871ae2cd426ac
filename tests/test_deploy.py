"""Deployment without AWS: bootstrap and ``make deploy``/``destroy`` under moto; ``make package``
through the real ``chalice package`` and cfn-lint.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import metrics
from chalicelib.dynamo import TABLE_SCHEMA, TTL_ATTRIBUTE
from tests.conftest import ROOT
from tools.deploy import AWS_SERVICES, Aws, deploy, destroy, main
from tools.package import PackageError, build, check_zip, lint
from tools.policy import FUNCTIONS, Arns, deployed_policy, stack_policy_document
from tools.template import FUNCTION_IDS, PING_HANDLER, POLICY_IDS, REST_API_ID, ROLE_IDS

TABLE = "vigil-deploy"
TOPIC = "vigil-deploy-alerts"
READ_ONLY_PREFIXES = ("Describe", "Get", "List")


class Operations:
    """Every AWS operation the clients make, by name (a botocore hook, like the policy test)."""

    def __init__(self, *clients: Any) -> None:
        self.names: list[str] = []
        self.params: list[tuple[str, dict[str, Any]]] = []
        for client in clients:
            client.meta.events.register("before-parameter-build.*.*", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.names.append(model.name)
        self.params.append((model.name, dict(params)))

    def writes(self) -> list[str]:
        return [name for name in self.names if not name.startswith(READ_ONLY_PREFIXES)]


@pytest.fixture
def aws_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    from moto import mock_aws

    _keep_logging_config(monkeypatch)
    with mock_aws():
        import boto3

        yield Aws(*(boto3.client(name) for name in AWS_SERVICES))


def _keep_logging_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2.5 drops a function's LoggingConfig; Lambda keeps and returns it. Make moto do so."""
    from moto.awslambda.models import LambdaFunction

    update, get = LambdaFunction.update_configuration, LambdaFunction.get_configuration

    def update_configuration(self: Any, updates: dict[str, Any]) -> dict[str, Any]:
        if "LoggingConfig" in updates:
            self.vigil_logging_config = updates["LoggingConfig"]
        return dict(update(self, updates))

    def get_configuration(self: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        config = dict(get(self, *args, **kwargs))
        if hasattr(self, "vigil_logging_config"):
            config["LoggingConfig"] = self.vigil_logging_config
        return config

    monkeypatch.setattr(LambdaFunction, "update_configuration", update_configuration)
    monkeypatch.setattr(LambdaFunction, "get_configuration", get_configuration)


def settings_of(aws: Aws) -> dict[str, Any]:
    """Everything bootstrap promises, as AWS describes it."""
    table = aws.dynamodb.describe_table(TableName=TABLE)["Table"]
    sse = table.get("SSEDescription", {})
    backups = aws.dynamodb.describe_continuous_backups(TableName=TABLE)
    key = aws.kms.describe_key(KeyId=f"alias/{TOPIC}")["KeyMetadata"]
    topic_arn = f"arn:aws:sns:us-east-1:123456789012:{TOPIC}"
    return {
        "billing": table["BillingModeSummary"]["BillingMode"],
        "indexes": sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]),
        "deletion_protection": table["DeletionProtectionEnabled"],
        "sse": (sse.get("Status"), sse.get("SSEType")),
        "pitr": backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"][
            "PointInTimeRecoveryStatus"
        ],
        "ttl": aws.dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"],
        "topic_key": aws.sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"][
            "KmsMasterKeyId"
        ],
        "key": (key["Arn"], key["KeyState"]),
        "rotation": aws.kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"],
        "key_policy": json.loads(
            aws.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
        ),
    }


# --- bootstrap ---------------------------------------------------------------------------------


def test_bootstrap_creates_everything_protected_and_a_rerun_only_reads(aws_clients: Aws) -> None:
    from chalicelib.bootstrap import bootstrap

    aws = aws_clients
    first = bootstrap(aws.dynamodb, aws.sns, TABLE, TOPIC, kms=aws.kms)
    before = settings_of(aws)
    operations = Operations(aws.dynamodb, aws.sns, aws.kms)
    second = bootstrap(aws.dynamodb, aws.sns, TABLE, TOPIC, kms=aws.kms)
    topic_arn = f"arn:aws:sns:us-east-1:123456789012:{TOPIC}"
    assert first == second == {"table": TABLE, "topic_arn": topic_arn}
    assert operations.names and operations.writes() == []
    assert settings_of(aws) == before
    assert before["billing"] == "PAY_PER_REQUEST"
    assert before["indexes"] == ["by_project", "due_buckets"]
    assert before["deletion_protection"] is True
    assert before["sse"] == ("ENABLED", "KMS")
    assert before["pitr"] == "ENABLED"
    assert before["ttl"] == {"TimeToLiveStatus": "ENABLED", "AttributeName": TTL_ATTRIBUTE}
    assert before["topic_key"] == before["key"][0] and before["rotation"] is True
    statements = {s["Sid"]: s for s in before["key_policy"]["Statement"]}
    cloudwatch = statements["AllowCloudWatchAlarmsToPublish"]
    assert cloudwatch["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_bootstrap_brings_a_table_and_topic_of_an_older_version_up_to_date(
    aws_clients: Aws,
) -> None:
    from chalicelib.bootstrap import bootstrap

    aws = aws_clients
    aws.dynamodb.create_table(TableName=TABLE, **TABLE_SCHEMA)
    aws.dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "KEEP"}, "sk": {"S": "ME"}})
    aws.sns.create_topic(Name=TOPIC)
    operations = Operations(aws.dynamodb, aws.sns, aws.kms)
    bootstrap(aws.dynamodb, aws.sns, TABLE, TOPIC, kms=aws.kms)
    after = settings_of(aws)
    assert after["deletion_protection"] is True and after["pitr"] == "ENABLED"
    assert after["ttl"]["TimeToLiveStatus"] == "ENABLED"
    assert after["topic_key"] == after["key"][0]
    # moto ignores SSESpecification on UpdateTable; the request itself is what can be checked.
    assert (
        "UpdateTable",
        {"TableName": TABLE, "SSESpecification": {"Enabled": True, "SSEType": "KMS"}},
    ) in operations.params
    assert aws.dynamodb.scan(TableName=TABLE)["Count"] == 1


def test_bootstrap_refuses_a_table_whose_ttl_is_on_another_attribute(aws_clients: Aws) -> None:
    from chalicelib.bootstrap import bootstrap

    aws = aws_clients
    aws.dynamodb.create_table(TableName=TABLE, **TABLE_SCHEMA)
    aws.dynamodb.update_time_to_live(
        TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    with pytest.raises(RuntimeError, match="another application"):
        bootstrap(aws.dynamodb, aws.sns, TABLE, TOPIC, kms=aws.kms)


# --- make deploy / make destroy ----------------------------------------------------------------


class FakeChalice:
    """Stands in for the chalice CLI: records commands, writes what ``chalice deploy`` records."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.notify_queues: list[str | None] = []  # what app.py's queue subscription would read

    def __call__(self, command: list[str], cwd: Path) -> None:
        self.commands.append(command[1:])
        self.notify_queues.append(os.environ.get("VIGIL_NOTIFY_QUEUE"))
        stage = command[command.index("--stage") + 1]
        deployed = cwd / ".chalice" / "deployed"
        deployed.mkdir(exist_ok=True)
        function = "arn:aws:lambda:us-east-1:123456789012:function:vigil-{}{}"
        resources = [
            {
                "name": "api_handler",
                "resource_type": "lambda_function",
                "lambda_arn": function.format(stage, ""),
            },
            {
                "name": "sweep",
                "resource_type": "lambda_function",
                "lambda_arn": function.format(stage, "-sweep"),
            },
            {
                "name": "notify",
                "resource_type": "lambda_function",
                "lambda_arn": function.format(stage, "-notify"),
            },
            {
                "name": "rest_api",
                "resource_type": "rest_api",
                "rest_api_id": "abc123",
                "rest_api_url": "https://abc123.execute-api.us-east-1.amazonaws.com/api/",
            },
        ]
        resources.append(
            {
                "name": "ping",
                "resource_type": "lambda_function",
                "lambda_arn": function.format(stage, "-ping"),
            }
        )
        if command[1] == "delete":
            resources = []
        else:
            self._create_functions(stage, cwd)
        (deployed / f"{stage}.json").write_text(json.dumps({"resources": resources}))

    @staticmethod
    def _create_functions(stage: str, cwd: Path) -> None:
        """The functions chalice deploy would create, in moto (a re-deploy keeps them), with the
        stage's environment as chalice sets it: the ping function needs the notify queue's."""
        import io

        import boto3

        lambda_ = boto3.client("lambda")
        existing = {f["FunctionName"] for f in lambda_.list_functions()["Functions"]}
        role = "arn:aws:iam::123456789012:role/vigil"
        if "vigil" not in {r["RoleName"] for r in boto3.client("iam").list_roles()["Roles"]}:
            boto3.client("iam").create_role(RoleName="vigil", AssumeRolePolicyDocument="{}")
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def app(event, context):\n    return None\n")
        config = json.loads((cwd / ".chalice" / "config.json").read_text())
        variables = {
            **config.get("environment_variables", {}),
            **config["stages"][stage].get("environment_variables", {}),
        }
        for suffix in ("", "-sweep", "-ping", "-notify"):
            name = f"vigil-{stage}{suffix}"
            if name not in existing:
                lambda_.create_function(
                    FunctionName=name,
                    Runtime="python3.11",
                    Role=role,
                    Handler="app.app",
                    Code={"ZipFile": code.getvalue()},
                    Environment={"Variables": variables},
                )


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's .chalice, so deploying never edits the real config."""
    shutil.copytree(
        ROOT / ".chalice",
        tmp_path / ".chalice",
        ignore=shutil.ignore_patterns("deployments", "deployed"),
    )
    monkeypatch.delenv("VIGIL_TABLE", raising=False)
    monkeypatch.delenv("VIGIL_TOPIC_NAME", raising=False)
    return tmp_path


def snapshot(project: Path) -> dict[str, tuple[int, str]]:
    return {
        p.name: (p.stat().st_mtime_ns, p.read_text())
        for p in sorted((project / ".chalice").glob("*.json"))
    }


def test_deploy_writes_the_stage_and_a_rerun_changes_nothing(
    aws_clients: Aws, project: Path
) -> None:
    chalice, said = FakeChalice(), list[str]()
    deployed = deploy("prod", project, aws_clients, chalice, said.append)
    files = snapshot(project)
    operations = Operations(*vars(aws_clients).values())
    deploy("prod", project, aws_clients, chalice, said.append)
    assert snapshot(project) == files
    assert operations.writes() == []
    assert chalice.commands == [["deploy", "--stage", "prod"]] * 2
    assert chalice.notify_queues == ["vigil-prod-alerts-notify"] * 2
    assert "VIGIL_NOTIFY_QUEUE" not in os.environ  # set for chalice only
    stage = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["prod"]
    env = stage["environment_variables"]
    assert env["VIGIL_TABLE"] == "vigil-prod"
    assert env["VIGIL_TOPIC_ARN"] == "arn:aws:sns:us-east-1:123456789012:vigil-prod-alerts"
    for function in FUNCTIONS:
        name = stage["lambda_functions"][function]["iam_policy_file"]
        written = json.loads((project / ".chalice" / name).read_text())
        table = aws_clients.dynamodb.describe_table(TableName="vigil-prod")["Table"]["TableArn"]
        key = aws_clients.kms.describe_key(KeyId="alias/vigil-prod-alerts")["KeyMetadata"]["Arn"]
        queue = aws_clients.sqs.get_queue_url(QueueName="vigil-prod-alerts-notify")["QueueUrl"]
        assert env["VIGIL_NOTIFY_QUEUE_URL"] == queue
        queues = [
            f"arn:aws:sqs:us-east-1:123456789012:vigil-prod-alerts-notify{suffix}"
            for suffix in ("", "-dead")
        ]
        arns = Arns(table, env["VIGIL_TOPIC_ARN"], key, *queues)
        assert written == deployed_policy(function, arns)
    assert deployed.sweep_function == "vigil-prod-sweep"
    url = aws_clients.lambda_.get_function_url_config(FunctionName="vigil-prod-ping")
    assert url["AuthType"] == "NONE"
    endpoint = url["FunctionUrl"].rstrip("/") + "/ping/"  # moto's URL lacks AWS's final "/"
    assert endpoint.endswith(".on.aws/ping/")
    assert any(line.startswith(f"Ping base URL: {endpoint} ") for line in said)
    rest_pings = "REST pings:    https://abc123.execute-api.us-east-1.amazonaws.com/api/ping/"
    assert any(line.startswith(rest_pings) for line in said)
    rest_root = "https://abc123.execute-api.us-east-1.amazonaws.com/api"
    ping_env = aws_clients.lambda_.get_function_configuration(FunctionName="vigil-prod-ping")
    assert ping_env["Environment"]["Variables"]["VIGIL_SITE_ROOT"] == rest_root
    # A ping that brings a channel-routed check up queues its alert: the URL must survive.
    assert ping_env["Environment"]["Variables"]["VIGIL_NOTIFY_QUEUE_URL"] == queue
    assert ping_env["Handler"] == PING_HANDLER  # its own entry, not chalice's app.ping_url
    ping_config = stage["lambda_functions"]["ping"]["environment_variables"]
    # Kept for the next chalice deploy, which sets a function's environment from the config.
    assert ping_config == {"VIGIL_SITE_ROOT": rest_root, "VIGIL_PING_ENDPOINT": endpoint}
    # Every check's ping_url names the cheap door: the API's, and the alerts' (sweeper, pings).
    for function in ("api_handler", "sweep"):
        assert stage["lambda_functions"][function]["environment_variables"] == {
            "VIGIL_PING_ENDPOINT": endpoint
        }
    for name in ("vigil-prod", "vigil-prod-sweep", "vigil-prod-ping"):
        live = aws_clients.lambda_.get_function_configuration(FunctionName=name)
        assert live["Environment"]["Variables"]["VIGIL_PING_ENDPOINT"] == endpoint
        assert live["Environment"]["Variables"]["VIGIL_TABLE"] == "vigil-prod"  # merged in
    notify = aws_clients.lambda_.get_function_configuration(FunctionName="vigil-prod-notify")
    assert "VIGIL_PING_ENDPOINT" not in notify["Environment"]["Variables"]  # forwards only
    for function in ("vigil-prod", "vigil-prod-sweep", "vigil-prod-ping", "vigil-prod-notify"):
        logging = aws_clients.lambda_.get_function_configuration(FunctionName=function)
        assert logging["LoggingConfig"] == {
            "LogFormat": "JSON",
            "ApplicationLogLevel": "INFO",
            "SystemLogLevel": "WARN",
        }
    policy = json.loads(aws_clients.lambda_.get_policy(FunctionName="vigil-prod-ping")["Policy"])
    actions = {s["Action"] for s in policy["Statement"]}
    assert actions == {"lambda:InvokeFunctionUrl", "lambda:InvokeFunction"}
    assert "API URL:       https://abc123.execute-api.us-east-1.amazonaws.com/api/api/v3/" in said
    dashboard = "Dashboard:     https://abc123.execute-api.us-east-1.amazonaws.com/api/ "
    assert any(line.startswith(dashboard) for line in said)


def test_deploy_migrates_a_table_of_the_old_layout_around_the_code_switch(
    aws_clients: Aws, project: Path
) -> None:
    from chalicelib import migration
    from tests.test_migration import LEGACY_SCHEMA

    ddb = aws_clients.dynamodb
    ddb.create_table(TableName="vigil-prod", **LEGACY_SCHEMA)
    chalice, said = FakeChalice(), list[str]()
    live_indexes: list[set[str]] = []

    def chalice_deploy(command: list[str], cwd: Path) -> None:
        live_indexes.append(migration.indexes(ddb, "vigil-prod"))  # as the new code goes live
        chalice(command, cwd)

    deploy("prod", project, aws_clients, chalice_deploy, said.append)

    assert live_indexes == [{"due", "due_buckets", "by_project"}]
    assert migration.indexes(ddb, "vigil-prod") == {"due_buckets", "by_project"}
    assert "Migration (before chalice deploy): due_buckets index created" in said
    assert "Migration (after chalice deploy): old due index dropped" in said


def test_deploy_installs_the_watchman_on_the_deployed_sweeper(
    aws_clients: Aws, project: Path
) -> None:
    deploy("prod", project, aws_clients, FakeChalice(), lambda line: None)
    alarms = {a["AlarmName"]: a for a in aws_clients.cloudwatch.describe_alarms()["MetricAlarms"]}
    topic = "arn:aws:sns:us-east-1:123456789012:vigil-prod-alerts"
    heartbeat = alarms["vigil-prod-sweeper-heartbeat"]
    assert (heartbeat["Namespace"], heartbeat["MetricName"]) == ("Vigil", "SweepCompleted")
    assert heartbeat["Dimensions"] == [{"Name": "FunctionName", "Value": "vigil-prod-sweep"}]
    assert heartbeat["TreatMissingData"] == "breaching"
    assert heartbeat["ComparisonOperator"] == "LessThanThreshold"
    assert sorted(alarms) == sorted(
        f"vigil-prod-{name}"
        for name in (
            "sweeper-heartbeat",
            "alerts-failed",
            "sweep-errors",
            "sweep-throttles",
            "api-errors",
            "api-throttles",
            "ping-errors",
            "ping-throttles",
            "notify-errors",
            "notify-throttles",
            "notify-dead-letters",
        )
    )
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
    assert alarms["vigil-prod-api-throttles"]["Dimensions"][0]["Value"] == "vigil-prod"
    failed = alarms["vigil-prod-alerts-failed"]
    assert (failed["Namespace"], failed["MetricName"]) == ("Vigil", "AlertsFailed")
    assert failed["Dimensions"] == [{"Name": "FunctionName", "Value": "vigil-prod-sweep"}]
    assert alarms["vigil-prod-notify-errors"]["Dimensions"][0]["Value"] == "vigil-prod-notify"
    dead = alarms["vigil-prod-notify-dead-letters"]
    assert dead["Dimensions"] == [{"Name": "QueueName", "Value": "vigil-prod-alerts-notify-dead"}]


def test_destroy_keeps_the_data_unless_asked(aws_clients: Aws, project: Path) -> None:
    chalice = FakeChalice()
    deploy("prod", project, aws_clients, chalice, lambda line: None)
    destroy("prod", project, aws_clients, chalice, lambda line: None, delete_data=False)
    assert chalice.commands[-1] == ["delete", "--stage", "prod"]
    assert aws_clients.cloudwatch.describe_alarms()["MetricAlarms"] == []
    table = aws_clients.dynamodb.describe_table(TableName="vigil-prod")["Table"]
    assert table["DeletionProtectionEnabled"] is True
    destroy("prod", project, aws_clients, chalice, lambda line: None, delete_data=True)
    assert aws_clients.dynamodb.list_tables()["TableNames"] == []
    assert aws_clients.sns.list_topics()["Topics"] == []
    assert aws_clients.sqs.list_queues().get("QueueUrls", []) == []
    keys = aws_clients.kms.list_keys()["Keys"]
    states = {
        aws_clients.kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"]
        for k in keys
        if not k["KeyId"].startswith("alias")
    }
    assert "PendingDeletion" in states


def test_explicit_names_win_and_each_stage_gets_its_own_table(
    aws_clients: Aws, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deploy("dev", project, aws_clients, FakeChalice(), lambda line: None)
    monkeypatch.setenv("VIGIL_TABLE", "team-vigil")
    deploy("prod", project, aws_clients, FakeChalice(), lambda line: None)
    assert sorted(aws_clients.dynamodb.list_tables()["TableNames"]) == ["team-vigil", "vigil-dev"]


def test_an_explicit_ping_endpoint_is_left_as_the_operator_set_it(
    aws_clients: Aws, project: Path
) -> None:
    """CloudFront in front of the function URL: the check JSON names the operator's URL."""
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    cloudfront = "https://pings.example.com/ping/"
    stage = config.setdefault("stages", {}).setdefault("prod", {})
    stage.setdefault("environment_variables", {})["VIGIL_PING_ENDPOINT"] = cloudfront
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    said: list[str] = []
    deploy("prod", project, aws_clients, FakeChalice(), said.append)
    written = json.loads(config_path.read_text())["stages"]["prod"]
    for function in ("api_handler", "sweep", "ping"):
        variables = written["lambda_functions"][function].get("environment_variables", {})
        assert "VIGIL_PING_ENDPOINT" not in variables  # the stage's value reaches every function
    for name in ("vigil-prod", "vigil-prod-sweep", "vigil-prod-ping"):
        live = aws_clients.lambda_.get_function_configuration(FunctionName=name)
        assert live["Environment"]["Variables"]["VIGIL_PING_ENDPOINT"] == cloudfront
    assert not any("VIGIL_PING_ENDPOINT" in line for line in said)


def test_a_malformed_ping_endpoint_stops_the_deploy_before_chalice_runs(
    aws_clients: Aws, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    config.setdefault("environment_variables", {})["VIGIL_PING_ENDPOINT"] = "pings.example.com"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    assert main(["deploy", "--stage", "prod", "--project-dir", str(project)]) == 1
    assert "VIGIL_PING_ENDPOINT must be an http(s) URL" in capsys.readouterr().err
    assert not (project / ".chalice" / "deployed" / "prod.json").exists()  # chalice never ran


def test_a_ping_endpoint_set_after_a_deploy_replaces_the_derived_one(
    aws_clients: Aws, project: Path
) -> None:
    """chalice lets a function's own variable win over the stage's: the copies deploy wrote
    per function must go, or the operator's CloudFront URL would never reach the functions."""
    config_path = project / ".chalice" / "config.json"
    deploy("prod", project, aws_clients, FakeChalice(), lambda line: None)
    config = json.loads(config_path.read_text())
    functions = config["stages"]["prod"]["lambda_functions"]
    assert functions["sweep"]["environment_variables"]["VIGIL_PING_ENDPOINT"].endswith("/ping/")
    config["stages"]["prod"]["environment_variables"]["VIGIL_PING_ENDPOINT"] = "https://cf.test/"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    deploy("prod", project, aws_clients, FakeChalice(), lambda line: None)
    functions = json.loads(config_path.read_text())["stages"]["prod"]["lambda_functions"]
    for function in ("api_handler", "sweep"):
        assert "environment_variables" not in functions[function]
    # The ping function keeps what is still derived: the REST API as its site root.
    assert list(functions["ping"]["environment_variables"]) == ["VIGIL_SITE_ROOT"]


def test_chalice_deploy_turns_on_compression_for_a_new_and_an_existing_api(
    aws_clients: Aws, project: Path
) -> None:
    """``make deploy`` runs ``chalice deploy``; chalice's own planner, fed the stage config
    make deploy wrote, sets the API's minimumCompressionSize and then redeploys the stage
    (AWS applies the setting to an existing API only with a new deployment)."""
    from chalice.config import Config
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder
    from chalice.deploy.planner import PlanStage
    from chalice.deploy.validate import validate_configuration

    from app import app

    deploy("prod", project, aws_clients, FakeChalice(), lambda line: None)
    on_disk = json.loads((project / ".chalice" / "config.json").read_text())
    user = {"chalice_app": app, "project_dir": str(project)}
    config = Config(chalice_stage="prod", user_provided_params=user, config_from_disk=on_disk)
    validate_configuration(config)  # chalice deploy refuses a threshold out of 0..10 MiB
    graph = ApplicationGraphBuilder().build(config, "prod")
    (rest_api,) = [r for r in graph.resources if isinstance(r, models.RestAPI)]
    for exists in (False, True):
        plan = PlanStage(_RemoteRestApi(exists), None).execute([rest_api])  # type: ignore[arg-type]
        calls = [i for i in plan.instructions if isinstance(i, models.APICall)]
        names = [call.method_name for call in calls]
        patches = calls[names.index("update_rest_api")].params["patch_operations"]
        compression = {"op": "replace", "path": "/minimumCompressionSize", "value": "1024"}
        assert compression in patches, (exists, patches)
        assert names.index("update_rest_api") < names.index("deploy_rest_api"), names


class _RemoteRestApi:
    """What chalice's planner asks of the account: whether the REST API exists, and its id."""

    def __init__(self, exists: bool) -> None:
        self.exists = exists

    def resource_exists(self, resource: Any, *args: Any) -> bool:
        return self.exists

    def resource_deployed_values(self, resource: Any) -> dict[str, str]:
        return {"rest_api_id": "abc123"}


def test_the_package_stage_cannot_be_deployed_directly(aws_clients: Aws, project: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        deploy("cfn", project, aws_clients, FakeChalice(), lambda line: None)


# --- make package --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The real ``chalice package`` (pip downloads from PyPI) with the merge template.

    It packages a private copy of the project: chalice zips whatever ``chalicelib/`` and
    ``.chalice/deployments`` hold while it runs, and under parallel workers other tests import
    (writing ``__pycache__``) and run the app at the same moment; a zip built over a tree that
    changed under it came out unreadable (BadZipFile) in two full runs.
    """
    project = tmp_path_factory.mktemp("project")
    for name in ("app.py", "requirements.txt"):
        shutil.copy2(ROOT / name, project / name)
    skip = shutil.ignore_patterns("__pycache__", "deployments", "deployed", "venv")
    shutil.copytree(ROOT / "chalicelib", project / "chalicelib", ignore=skip)
    shutil.copytree(ROOT / ".chalice", project / ".chalice", ignore=skip)
    return build(tmp_path_factory.mktemp("dist"), project_dir=project)


@pytest.fixture(scope="module")
def template(packaged: tuple[Path, Path]) -> dict[str, Any]:
    return dict(json.loads(packaged[0].read_text()))


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_the_template_passes_cfn_lint(packaged: tuple[Path, Path]) -> None:
    lint(packaged[0])


def test_cfn_lint_would_catch_a_broken_template(
    packaged: tuple[Path, Path], tmp_path: Path
) -> None:
    broken = json.loads(packaged[0].read_text())
    broken["Resources"]["SweeperHeartbeatAlarm"]["Properties"]["TreatMissingData"] = "breach"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(PackageError, match=r"TreatMissingData|breach"):
        lint(path)


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_the_stack_owns_a_protected_table_of_the_code_s_schema(template: dict[str, Any]) -> None:
    ((_, table),) = resources_of(template, "AWS::DynamoDB::Table").items()
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    properties = table["Properties"]
    for key, value in TABLE_SCHEMA.items():
        assert properties[key] == value
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS"}
    assert properties["TimeToLiveSpecification"] == {
        "AttributeName": TTL_ATTRIBUTE,
        "Enabled": True,
    }


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use(template: dict[str, Any]) -> None:
    ((topic_id, topic),) = resources_of(template, "AWS::SNS::Topic").items()
    ((key_id, key),) = resources_of(template, "AWS::KMS::Key").items()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    principals = [s["Principal"] for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals
    for function_id in FUNCTION_IDS.values():
        variables = template["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert variables["VIGIL_TOPIC_ARN"] == {"Ref": topic_id}
        assert variables["VIGIL_TABLE"] == {"Ref": "VigilTable"}
    # No placeholder from .chalice/config.json survives the merge.
    assert "123456789012" not in json.dumps(template)


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_the_sweeper_runs_every_minute_with_time_for_fast_mode(template: dict[str, Any]) -> None:
    sweep = template["Resources"][FUNCTION_IDS["sweep"]]["Properties"]
    (event,) = sweep["Events"].values()
    assert event == {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}
    assert sweep["Timeout"] >= 75


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_each_function_has_its_own_role_with_its_own_grants(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    for function in FUNCTIONS:
        role_id, policy_id = ROLE_IDS[function], POLICY_IDS[function]
        function_body = resources[FUNCTION_IDS[function]]
        assert function_body["Properties"]["Role"] == {"Fn::GetAtt": [role_id, "Arn"]}
        assert policy_id in function_body["DependsOn"]
        grants = resources[policy_id]
        assert grants["Type"] == "AWS::IAM::Policy"
        assert grants["Properties"]["Roles"] == [{"Ref": role_id}]
        assert grants["Properties"]["PolicyDocument"] == stack_policy_document(function)
        # The role keeps chalice's own policy: CloudWatch Logs, and nothing on the data.
        (inline,) = resources[role_id]["Properties"]["Policies"]
        actions = {a for s in inline["PolicyDocument"]["Statement"] for a in s["Action"]}
        assert actions == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_each_function_logs_to_a_group_that_expires(template: dict[str, Any]) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup").values()
    names = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups}
    assert names == {f"/aws/lambda/${{{f}}}" for f in FUNCTION_IDS.values()}
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups)


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_the_alarms_watch_the_sweeper_and_every_function(template: dict[str, Any]) -> None:
    alarms = {
        k: v["Properties"] for k, v in resources_of(template, "AWS::CloudWatch::Alarm").items()
    }
    heartbeat = alarms.pop("SweeperHeartbeatAlarm")
    failed = alarms.pop("AlertsFailedAlarm")
    assert (failed["Namespace"], failed["MetricName"]) == (metrics.NAMESPACE, metrics.ALERTS_FAILED)
    assert failed["Dimensions"] == [
        {"Name": metrics.FUNCTION_DIMENSION, "Value": {"Ref": FUNCTION_IDS["sweep"]}}
    ]
    assert failed["AlarmActions"] == failed["OKActions"] == [{"Ref": "AlertTopic"}]
    assert (heartbeat["Namespace"], heartbeat["MetricName"]) == (
        metrics.NAMESPACE,
        metrics.SWEEP_COMPLETED,
    )
    assert heartbeat["Dimensions"] == [
        {"Name": metrics.FUNCTION_DIMENSION, "Value": {"Ref": FUNCTION_IDS["sweep"]}}
    ]
    assert heartbeat["TreatMissingData"] == "breaching"
    dead = alarms.pop("NotifyDeadLettersAlarm")
    assert (dead["Namespace"], dead["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert dead["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["NotifyDeadLetterQueue", "QueueName"]}}
    ]
    assert (dead["Threshold"], dead["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    watched = {(a["MetricName"], a["Dimensions"][0]["Value"]["Ref"]) for a in alarms.values()}
    # The ping function included: its throttles are pings refused once reserved concurrency caps it.
    assert watched == {(m, f) for m in ("Errors", "Throttles") for f in FUNCTION_IDS.values()}
    for alarm in [heartbeat, *alarms.values()]:
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlertTopic"}]


@pytest.mark.slow  # builds the real package (chalice package, pip download)
def test_the_zip_holds_the_pinned_runtime_closure_only(packaged: tuple[Path, Path]) -> None:
    entries = check_zip(packaged[1], ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
    assert {"app.py", "chalicelib", "croniter", "dateutil"} <= set(entries)
    assert not {"boto3", "botocore"} & set(entries)
    assert packaged[1].stat().st_size < 2_000_000


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("boto3/__init__.py", "boto3 must not be shipped"),
        ("pytest/__init__.py", "pytest must not be shipped"),
        ("croniter-6.0.0.dist-info/METADATA", "is not pinned"),
        ("left_pad-1.0.dist-info/METADATA", "is not pinned"),
        ("chalice/cli/__init__.py", "more than chalice's runtime shim"),
    ],
)
def test_the_zip_check_refuses_what_must_not_ship(
    packaged: tuple[Path, Path], tmp_path: Path, entry: str, problem: str
) -> None:
    bad = tmp_path / "bad.zip"
    shutil.copy(packaged[1], bad)
    with zipfile.ZipFile(bad, "a") as archive:
        archive.writestr(entry, "")
    with pytest.raises(PackageError, match=problem):
        check_zip(bad, ROOT / "requirements.txt", ROOT / "requirements-dev.txt")


def test_the_notifier_consumes_the_stack_s_own_queue_one_message_at_a_time(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    notify = resources[FUNCTION_IDS["notify"]]["Properties"]
    (event,) = notify["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${NotifyQueue.Arn}"}
    assert event["Properties"]["BatchSize"] == 1
    queue = resources["NotifyQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * notify["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["NotifyDeadLetterQueue", "Arn"]
    }
    subscription = resources["NotifyQueueSubscription"]["Properties"]
    assert subscription["TopicArn"] == {"Ref": "AlertTopic"}
    assert subscription["RawMessageDelivery"] is True
    assert subscription["FilterPolicy"] == {"flip_id": [{"exists": True}]}
    variables = notify["Environment"]["Variables"]
    assert variables["VIGIL_NOTIFY_QUEUE_URL"] == {"Ref": "NotifyQueue"}
    assert "VIGIL_ALLOW_LOOPBACK_URLS" not in variables  # deployed: the SSRF guard is strict


def test_pings_have_a_public_function_url_on_their_own_function(template: dict[str, Any]) -> None:
    from tools.template import PING_URL_ID

    resources = template["Resources"]
    ping_arn = {"Fn::GetAtt": [FUNCTION_IDS["ping"], "Arn"]}
    url = resources[PING_URL_ID]
    assert url["Type"] == "AWS::Lambda::Url"
    assert url["Properties"]["AuthType"] == "NONE"
    assert url["Properties"]["TargetFunctionArn"] == ping_arn
    cors = url["Properties"]["Cors"]
    assert cors["AllowOrigins"] == ["*"] and set(cors["AllowMethods"]) == {"GET", "POST", "HEAD"}
    permissions = {
        p["Properties"]["Action"]: p["Properties"]
        for p in resources_of(template, "AWS::Lambda::Permission").values()
        if p["Properties"]["FunctionName"] == ping_arn
    }
    # Since October 2025 a public function URL needs both statements.
    assert permissions["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunctionUrl"]["Principal"] == "*"
    assert permissions["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    assert permissions["lambda:InvokeFunction"]["Principal"] == "*"
    ping = resources[FUNCTION_IDS["ping"]]["Properties"]
    assert ping["Handler"] == PING_HANDLER == "chalicelib.lambda_entry.ping"
    assert "Events" not in ping  # no API Gateway route leads to it
    # Checks that ?create=1 makes through the URL get the REST API's URLs, not the URL's.
    site_root = ping["Environment"]["Variables"]["VIGIL_SITE_ROOT"]["Fn::Sub"]
    assert site_root == "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
    # A ping that brings a channel-routed check up queues its alert, as the API's would.
    assert ping["Environment"]["Variables"]["VIGIL_NOTIFY_QUEUE_URL"] == {"Ref": "NotifyQueue"}
    grants = resources[POLICY_IDS["ping"]]["Properties"]["PolicyDocument"]["Statement"]
    queueing = [g for g in grants if "sqs:SendMessage" in g["Action"]]
    assert [g["Resource"] for g in queueing] == [{"Fn::Sub": "${NotifyQueue.Arn}"}]
    for other in ("api_handler", "sweep", "notify"):
        variables = template["Resources"][FUNCTION_IDS[other]]["Properties"]["Environment"]
        assert "VIGIL_SITE_ROOT" not in variables["Variables"]
    # The check JSON's ping base: a parameter, since the API cannot reference the URL (a cycle:
    # the URL names Ping, whose VIGIL_SITE_ROOT names RestAPI, whose routes name APIHandler).
    parameter = template["Parameters"]["PingEndpoint"]
    assert parameter["Type"] == "String" and parameter["Default"] == ""
    for function in ("api_handler", "sweep", "ping"):
        variables = resources[FUNCTION_IDS[function]]["Properties"]["Environment"]["Variables"]
        assert variables["VIGIL_PING_ENDPOINT"] == {"Ref": "PingEndpoint"}
    notify = resources[FUNCTION_IDS["notify"]]["Properties"]["Environment"]["Variables"]
    assert "VIGIL_PING_ENDPOINT" not in notify
    assert "PingFunctionUrl" not in json.dumps(resources[FUNCTION_IDS["api_handler"]])
    output = template["Outputs"]["PingBaseURL"]["Value"]
    assert output == {"Fn::Join": ["", [{"Fn::GetAtt": [PING_URL_ID, "FunctionUrl"]}, "ping/"]]}
    assert template["Outputs"]["RestPingBaseURL"]["Value"]["Fn::Sub"].endswith("/api/ping/")


def references(node: Any) -> set[str]:
    """The logical ids a resource names: Ref, Fn::GetAtt and ``${...}`` in Fn::Sub."""
    if isinstance(node, list):
        return set().union(*map(references, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found: set[str] = set()
    for key, value in node.items():
        if key == "Ref" and isinstance(value, str):
            found.add(value)
        elif key == "Fn::GetAtt":
            found.add(value[0] if isinstance(value, list) else value.split(".")[0])
        elif key == "Fn::Sub":
            text = value if isinstance(value, str) else value[0]
            found |= {name.split(".")[0] for name in re.findall(r"\$\{([^}!][^}]*)\}", text)}
            found |= references(value[1:] if isinstance(value, list) else [])
        else:
            found |= references(value)
    return found


def dependency_cycle(template: dict[str, Any]) -> list[str]:
    """A cycle of resources that name each other (CloudFormation refuses it), or []."""
    resources = template["Resources"]
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends = resource.get("DependsOn", [])
        named = references(resource) | set([depends] if isinstance(depends, str) else depends)
        graph[name] = named & resources.keys()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str]:
        for target in sorted(graph[name]):
            if target in path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target, [*path, target])
                if cycle:
                    return cycle
        done.add(name)
        return []

    for name in sorted(graph):
        cycle = [] if name in done else visit(name, [name])
        if cycle:
            return cycle
    return []


def test_the_stack_has_no_circular_dependency(template: dict[str, Any]) -> None:
    """cfn-lint 1.58 does not see through chalice's SAM REST API: a VIGIL_PING_ENDPOINT of
    Fn::GetAtt [PingFunctionUrl, FunctionUrl] on the API function linted clean, yet closes
    Ping -> RestAPI -> APIHandler -> PingFunctionUrl -> Ping, which CloudFormation refuses."""
    assert dependency_cycle(template) == []
    broken = json.loads(json.dumps(template))
    variables = broken["Resources"][FUNCTION_IDS["api_handler"]]["Properties"]["Environment"]
    variables["Variables"]["VIGIL_PING_ENDPOINT"] = {
        "Fn::GetAtt": ["PingFunctionUrl", "FunctionUrl"]
    }
    assert dependency_cycle(broken) == [
        "APIHandler",
        "PingFunctionUrl",
        "Ping",
        "RestAPI",
        "APIHandler",
    ]


def test_the_rest_api_compresses_replies_of_a_kilobyte_or_more(template: dict[str, Any]) -> None:
    """1,024 B (tests/measure_compression.py): a 1,000-check list goes from 1.2 MB to 86 KB and
    the dashboard from 72 KB to 26 KB; below it a reply fits one packet anyway, and gzip makes
    the smallest ones bigger (a ping's OK: 2 B to 22 B)."""
    rest_api = template["Resources"][REST_API_ID]
    assert rest_api["Type"] == "AWS::Serverless::Api"
    assert rest_api["Properties"]["MinimumCompressionSize"] == 1024


def test_every_function_is_arm64_at_128_mb_with_json_logs_and_quiet_platform_lines(
    template: dict[str, Any],
) -> None:
    for function_id in FUNCTION_IDS.values():
        properties = template["Resources"][function_id]["Properties"]
        assert properties["Architectures"] == ["arm64"]
        assert properties["MemorySize"] == 128
        assert properties["LoggingConfig"] == {
            "LogFormat": "JSON",
            "ApplicationLogLevel": "INFO",
            "SystemLogLevel": "WARN",
        }


def test_the_zip_ships_bytecode_python_loads_without_its_source(
    packaged: tuple[Path, Path], tmp_path: Path
) -> None:
    """Unchecked-hash pycs for the runtime's Python: proven by breaking every source file."""
    import importlib.util
    import subprocess
    import sys

    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    ping = json.loads(packaged[0].read_text())["Resources"][FUNCTION_IDS["ping"]]
    assert ping["Properties"]["Runtime"] == runtime
    with zipfile.ZipFile(packaged[1]) as archive:
        names = set(archive.namelist())
        sources = [n for n in names if n.endswith(".py")]
        for source in sources:
            pyc = str(importlib.util.cache_from_source(source))
            assert pyc in names, source
            header = archive.read(pyc)[:16]
            assert header[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, unchecked
        archive.extractall(tmp_path)
    for source in sources:
        (tmp_path / source).write_text('raise SyntaxError("the source was read")\n')
    done = subprocess.run(
        [sys.executable, "-B", "-c", "import app; print(sorted(app.app.routes)[0])"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith("/")
    # The ping function's Handler loads from the zip alone, without the Chalice app, the
    # Management API, the channel modules, the sweep, the alerter and alert delivery, or the
    # spec parser (a steady ping uses none; its cold start is why it has its own entry).
    module, name = ping["Properties"]["Handler"].rsplit(".", 1)
    probe = (
        f"import sys, {module} as m; assert callable(m.{name}); "
        "print(sorted(n for n in sys.modules if n == 'app' or n.startswith(("
        "'chalicelib.management', 'chalicelib.channels', 'chalicelib.channel_service', "
        "'chalicelib.notifier', 'chalicelib.api_routes', 'chalicelib.dashboard', "
        "'chalicelib.sweeps', 'chalicelib.delivery', 'chalicelib.spec', 'chalicelib.alerts', "
        "'chalicelib.sns', 'chalicelib.notify_queue', 'chalicelib.routing'))))"
    )
    done = subprocess.run(
        [sys.executable, "-B", "-c", probe],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_a_custom_domain_keeps_ping_urls_on_it(aws_clients: Aws, project: Path) -> None:
    """VIGIL_SITE_ROOT set: jobs keep the domain they were given (maybe the only one their
    firewall lets out), as Healthchecks' PING_ENDPOINT defaults to SITE_ROOT/ping/."""
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    stage = config.setdefault("stages", {}).setdefault("prod", {})
    stage.setdefault("environment_variables", {})["VIGIL_SITE_ROOT"] = "https://vigil.example.com/"
    config_path.write_text(json.dumps(config, indent=2) + "\n")
    deploy("prod", project, aws_clients, FakeChalice(), lambda line: None)
    for name in ("vigil-prod", "vigil-prod-sweep", "vigil-prod-ping"):
        live = aws_clients.lambda_.get_function_configuration(FunctionName=name)
        endpoint = live["Environment"]["Variables"]["VIGIL_PING_ENDPOINT"]
        assert endpoint == "https://vigil.example.com/ping/"


def test_a_malformed_setting_stops_the_package_before_chalice_runs(tmp_path: Path) -> None:
    """The stack would ship, and every request of every function would fail on the setting."""
    project = tmp_path / "project"
    (project / ".chalice").mkdir(parents=True)
    config = {"stages": {"cfn": {"environment_variables": {"VIGIL_PING_ENDPOINT": "pings.io/"}}}}
    (project / ".chalice" / "config.json").write_text(json.dumps(config))
    with pytest.raises(PackageError, match="VIGIL_PING_ENDPOINT must be an http"):
        build(tmp_path / "dist", project_dir=project)
    assert not (tmp_path / "dist").exists()  # stopped before chalice package ran
