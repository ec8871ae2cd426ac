"""Deployment without AWS: bootstrap and ``make deploy``/``destroy`` under moto; ``make package``
through the real ``chalice package`` and cfn-lint.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import metrics
from chalicelib.dynamo import TABLE_SCHEMA, TTL_ATTRIBUTE
from tests.conftest import ROOT
from tools.deploy import Aws, deploy, destroy
from tools.package import PackageError, build, check_zip, lint
from tools.policy import FUNCTIONS, Arns, deployed_policy, stack_policy_document
from tools.template import FUNCTION_IDS, POLICY_IDS, ROLE_IDS

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
def aws_clients() -> Iterator[Aws]:
    from moto import mock_aws

    with mock_aws():
        import boto3

        yield Aws(*(boto3.client(name) for name in ("dynamodb", "sns", "kms", "cloudwatch")))


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
    assert before["indexes"] == ["by_project", "due"]
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

    def __call__(self, command: list[str], cwd: Path) -> None:
        self.commands.append(command[1:])
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
                "name": "rest_api",
                "resource_type": "rest_api",
                "rest_api_id": "abc123",
                "rest_api_url": "https://abc123.execute-api.us-east-1.amazonaws.com/api/",
            },
        ]
        if command[1] == "delete":
            resources = []
        (deployed / f"{stage}.json").write_text(json.dumps({"resources": resources}))


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
    stage = json.loads((project / ".chalice" / "config.json").read_text())["stages"]["prod"]
    env = stage["environment_variables"]
    assert env["VIGIL_TABLE"] == "vigil-prod"
    assert env["VIGIL_TOPIC_ARN"] == "arn:aws:sns:us-east-1:123456789012:vigil-prod-alerts"
    for function in FUNCTIONS:
        name = stage["lambda_functions"][function]["iam_policy_file"]
        written = json.loads((project / ".chalice" / name).read_text())
        table = aws_clients.dynamodb.describe_table(TableName="vigil-prod")["Table"]["TableArn"]
        key = aws_clients.kms.describe_key(KeyId="alias/vigil-prod-alerts")["KeyMetadata"]["Arn"]
        assert written == deployed_policy(function, Arns(table, env["VIGIL_TOPIC_ARN"], key))
    assert deployed.sweep_function == "vigil-prod-sweep"
    assert "Ping base URL: https://abc123.execute-api.us-east-1.amazonaws.com/api/ping/" in said
    assert "API URL:       https://abc123.execute-api.us-east-1.amazonaws.com/api/api/v3/" in said
    dashboard = "Dashboard:     https://abc123.execute-api.us-east-1.amazonaws.com/api/ "
    assert any(line.startswith(dashboard) for line in said)


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
        )
    )
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic]
    assert alarms["vigil-prod-api-throttles"]["Dimensions"][0]["Value"] == "vigil-prod"
    failed = alarms["vigil-prod-alerts-failed"]
    assert (failed["Namespace"], failed["MetricName"]) == ("Vigil", "AlertsFailed")
    assert failed["Dimensions"] == [{"Name": "FunctionName", "Value": "vigil-prod-sweep"}]


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


def test_the_package_stage_cannot_be_deployed_directly(aws_clients: Aws, project: Path) -> None:
    with pytest.raises(ValueError, match="reserved"):
        deploy("cfn", project, aws_clients, FakeChalice(), lambda line: None)


# --- make package --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The real ``chalice package`` (pip downloads from PyPI) with the merge template."""
    return build(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def template(packaged: tuple[Path, Path]) -> dict[str, Any]:
    return dict(json.loads(packaged[0].read_text()))


def resources_of(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


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


def test_the_sweeper_runs_every_minute_with_time_for_fast_mode(template: dict[str, Any]) -> None:
    sweep = template["Resources"][FUNCTION_IDS["sweep"]]["Properties"]
    (event,) = sweep["Events"].values()
    assert event == {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)"}}
    assert sweep["Timeout"] >= 75


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


def test_each_function_logs_to_a_group_that_expires(template: dict[str, Any]) -> None:
    groups = resources_of(template, "AWS::Logs::LogGroup").values()
    names = {g["Properties"]["LogGroupName"]["Fn::Sub"] for g in groups}
    assert names == {f"/aws/lambda/${{{f}}}" for f in FUNCTION_IDS.values()}
    assert all(g["Properties"]["RetentionInDays"] == 30 for g in groups)


def test_the_alarms_watch_the_sweeper_and_both_functions(template: dict[str, Any]) -> None:
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
    watched = {(a["MetricName"], a["Dimensions"][0]["Value"]["Ref"]) for a in alarms.values()}
    assert watched == {(m, f) for m in ("Errors", "Throttles") for f in FUNCTION_IDS.values()}
    for alarm in [heartbeat, *alarms.values()]:
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlertTopic"}]


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
