"""The merge template ``make package`` hands to ``chalice package --merge-template``.

Chalice's template brings the four functions (the API, the sweeper, ``ping`` behind the
function URL, and the notifier), their roles (logs grant only, from the ``cfn`` stage's
``policy-logs.json``), the REST API, the schedule and the notifier's queue subscription. This
adds what Vigil needs around them: the table, the topic and its key, the notify queue and its
dead letters, the per-function grants, the alarms, the functions' environment and log
settings, the pings' function URL with its two public-invoke permissions, the
``PingEndpoint`` parameter (the check JSON's ping base, see ``ping_endpoint_parameter``), and
outputs.

merge-template deep-merges dicts and replaces lists (traps.md section 5), so it only ever adds
resources and dict keys: the grants are separate ``AWS::IAM::Policy`` resources attached to
chalice's roles, never entries merged into a role's ``Policies`` list; the environment merges
key by key into each function's ``Environment.Variables``; and the functions get ``DependsOn``
their grants rather than any changed reference.

The table schema comes from ``chalicelib.dynamo.TABLE_SCHEMA``, the very constant ``bootstrap``
and the tests create tables from, so the stack's table cannot drift from the code's.
"""

from __future__ import annotations

import json
import os
from typing import Any

from chalicelib.bootstrap import topic_key_policy
from chalicelib.dynamo import TABLE_SCHEMA, TTL_ATTRIBUTE
from chalicelib.migration import legacy_due_index
from chalicelib.notify_setup import (
    ALERT_FILTER,
    MAX_RECEIVES,
    RETENTION_SECONDS,
    VISIBILITY_TIMEOUT_SECONDS,
    queue_policy,
)
from chalicelib.settings import Settings
from tools.alarms import alarms
from tools.paths import CHALICE_DIR
from tools.policy import (
    DEAD_LETTER_QUEUE_ID,
    NOTIFY_QUEUE_ID,
    TABLE_ID,
    TOPIC_ID,
    TOPIC_KEY_ID,
    stack_policy_document,
)

# Chalice's logical ids for the functions and the roles it makes with autogen_policy off.
FUNCTION_IDS = {
    "api_handler": "APIHandler",
    "sweep": "Sweep",
    "ping": "Ping",
    "notify": "Notify",
}
ROLE_IDS = {
    "api_handler": "ApiHandlerRole",
    "sweep": "SweepRole",
    "ping": "PingRole",
    "notify": "NotifyRole",
}
POLICY_IDS = {
    "api_handler": "ApiHandlerGrants",
    "sweep": "SweepGrants",
    "ping": "PingGrants",
    "notify": "NotifyGrants",
}
# chalice names an SQS handler's event "<name>SqsEventSource".
NOTIFY_EVENT = "NotifySqsEventSource"
PING_URL_ID = "PingFunctionUrl"
# The ping function's Lambda entry (chalice would name app.ping_url), imported without app.py.
PING_HANDLER = "chalicelib.lambda_entry.ping"
PING_URL_PERMISSION_IDS = ("PingFunctionUrlPublicInvokeUrl", "PingFunctionUrlPublicInvoke")

# Lambda's JSON log format; its own START/END/REPORT lines only at WARN (they cost 418 B per
# invocation, more than a ping's app lines); the app's INFO lines (flips, alerts, sweeps) kept.
LOGGING_CONFIG = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}

# Browsers may ping too: simple GET/POST need no preflight; a JSON POST does, and the function
# URL answers it itself. The reply's Ping-Body-Limit is readable from script.
PING_URL_CORS = {
    "AllowOrigins": ["*"],
    "AllowMethods": ["GET", "POST", "HEAD"],
    "AllowHeaders": ["content-type"],
    "ExposeHeaders": ["ping-body-limit"],
    "MaxAge": 600,
}
REST_API_ID = "RestAPI"
API_STAGE = "api"
PACKAGE_STAGE = "cfn"
SITE_ROOT_VARIABLE = "VIGIL_SITE_ROOT"
PING_ENDPOINT_VARIABLE = "VIGIL_PING_ENDPOINT"
PING_ENDPOINT_PARAMETER = "PingEndpoint"
# The functions that render check JSON: the API (and the dashboard through it), and the alert
# documents of the sweeper and of the pings that flip a check (the notifier only forwards them).
PING_ENDPOINT_FUNCTIONS = ("api_handler", "sweep", "ping")
REST_API_BASE = (
    f"https://${{{REST_API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}/"
)


def merge_template() -> dict[str, Any]:
    resources: dict[str, Any] = {
        TABLE_ID: _table(),
        TOPIC_KEY_ID: _topic_key(),
        f"{TOPIC_KEY_ID}Alias": {
            "Type": "AWS::KMS::Alias",
            "Properties": {
                "AliasName": {"Fn::Sub": "alias/${AWS::StackName}-alerts"},
                "TargetKeyId": {"Ref": TOPIC_KEY_ID},
            },
        },
        TOPIC_ID: {
            "Type": "AWS::SNS::Topic",
            "Properties": {"KmsMasterKeyId": {"Fn::GetAtt": [TOPIC_KEY_ID, "Arn"]}},
        },
    }
    resources.update(notify_resources())
    for function in FUNCTION_IDS:
        resources[POLICY_IDS[function]] = _grants(function)
        resources[FUNCTION_IDS[function]] = _function_additions(function)
    # chalice subscribes the notifier to a queue by name; point it at the stack's own queue
    # (merge replaces the ``Fn::Sub`` string, so no second intrinsic key appears).
    notify_event = {"Properties": {"Queue": {"Fn::Sub": f"${{{NOTIFY_QUEUE_ID}.Arn}}"}}}
    resources[FUNCTION_IDS["notify"]]["Properties"]["Events"] = {NOTIFY_EVENT: notify_event}
    if not _configured(SITE_ROOT_VARIABLE):
        # A check that ?create=1 makes through the function URL must get the REST API's URLs
        # (update, pause, badges): the function URL serves pings only.
        variables = resources[FUNCTION_IDS["ping"]]["Properties"]["Environment"]["Variables"]
        variables[SITE_ROOT_VARIABLE] = {"Fn::Sub": REST_API_BASE.rstrip("/")}
    # The pings' own entry, not chalice's app.ping_url: a cold start without the Chalice app.
    resources[FUNCTION_IDS["ping"]]["Properties"]["Handler"] = PING_HANDLER
    resources.update(ping_url_resources())
    template: dict[str, Any] = {}
    if not _configured(PING_ENDPOINT_VARIABLE):
        template["Parameters"] = ping_endpoint_parameter()
        for function in PING_ENDPOINT_FUNCTIONS:
            variables = resources[FUNCTION_IDS[function]]["Properties"]["Environment"]["Variables"]
            variables[PING_ENDPOINT_VARIABLE] = {"Ref": PING_ENDPOINT_PARAMETER}
    for logical_id, properties in _alarms().items():
        resources[logical_id] = {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
    if _log_retention_configured():
        resources.update(_api_log_group_fix())
    return {**template, "Resources": resources, "Outputs": _outputs()}


def _table() -> dict[str, Any]:
    return {
        "Type": "AWS::DynamoDB::Table",
        # The data outlives the stack: deleting or replacing the stack keeps the table.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            **_table_schema(),
            "DeletionProtectionEnabled": True,
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
            "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        },
    }


KEEP_LEGACY_DUE_INDEX = "VIGIL_PACKAGE_KEEP_LEGACY_DUE_INDEX"


def _table_schema() -> dict[str, Any]:
    """The code's schema; with ``VIGIL_PACKAGE_KEEP_LEGACY_DUE_INDEX=1`` also the old due index,
    for the middle stack update of an upgrade (CloudFormation adds or drops one index per
    update; see chalicelib/migration.py)."""
    if os.environ.get(KEEP_LEGACY_DUE_INDEX) != "1":
        return TABLE_SCHEMA
    definitions = [
        *TABLE_SCHEMA["AttributeDefinitions"],
        {"AttributeName": "alert_after", "AttributeType": "N"},
    ]
    indexes = [*TABLE_SCHEMA["GlobalSecondaryIndexes"], legacy_due_index()]
    return {
        **TABLE_SCHEMA,
        "AttributeDefinitions": definitions,
        "GlobalSecondaryIndexes": indexes,
    }


def _topic_key() -> dict[str, Any]:
    # A customer managed key, not alias/aws/sns: the alarms below publish to the topic, and
    # CloudWatch may only use a key whose policy allows it (see chalicelib/bootstrap.py).
    return {
        "Type": "AWS::KMS::Key",
        "Properties": {
            "Description": {"Fn::Sub": "Vigil ${AWS::StackName}: encrypts the alert topic"},
            "EnableKeyRotation": True,
            "KeyPolicy": topic_key_policy(
                {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
            ),
        },
    }


def _grants(function: str) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": {"Fn::Sub": f"${{AWS::StackName}}-{function}-grants"},
            "Roles": [{"Ref": ROLE_IDS[function]}],
            "PolicyDocument": stack_policy_document(function),
        },
    }


def _function_additions(function: str) -> dict[str, Any]:
    """Dict keys only: they merge into chalice's function without replacing anything else."""
    return {
        # A function must not run before its grants exist.
        "DependsOn": [POLICY_IDS[function]],
        "Properties": {
            "Environment": {
                "Variables": {
                    "VIGIL_TABLE": {"Ref": TABLE_ID},
                    "VIGIL_TOPIC_ARN": {"Ref": TOPIC_ID},
                    "VIGIL_CHANNEL_KEY": {"Fn::GetAtt": [TOPIC_KEY_ID, "Arn"]},
                    "VIGIL_NOTIFY_QUEUE_URL": {"Ref": NOTIFY_QUEUE_ID},
                    "VIGIL_NOTIFY_DEAD_LETTER_URL": {"Ref": DEAD_LETTER_QUEUE_ID},
                }
            },
            "LoggingConfig": dict(LOGGING_CONFIG),
        },
    }


def ping_url_resources() -> dict[str, Any]:
    """The function URL (no auth: pings carry their own secret, the uuid or ping key) and the
    two resource-policy statements AWS requires for public access since October 2025:
    InvokeFunctionUrl, and InvokeFunction restricted to calls that come through the URL."""
    function_arn = {"Fn::GetAtt": [FUNCTION_IDS["ping"], "Arn"]}
    url_permission, invoke_permission = PING_URL_PERMISSION_IDS
    return {
        PING_URL_ID: {
            "Type": "AWS::Lambda::Url",
            "Properties": {
                "AuthType": "NONE",
                "TargetFunctionArn": function_arn,
                "Cors": PING_URL_CORS,
            },
        },
        url_permission: {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionName": function_arn,
                "Principal": "*",
                "FunctionUrlAuthType": "NONE",
            },
        },
        invoke_permission: {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": function_arn,
                "Principal": "*",
                "InvokedViaFunctionUrl": True,
            },
        },
    }


def _alarms() -> dict[str, Any]:
    return alarms(
        name=lambda suffix: {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"},
        api_function={"Ref": FUNCTION_IDS["api_handler"]},
        sweep_function={"Ref": FUNCTION_IDS["sweep"]},
        topic={"Ref": TOPIC_ID},
        ping_function={"Ref": FUNCTION_IDS["ping"]},
        notify_function={"Ref": FUNCTION_IDS["notify"]},
        dead_letter_queue={"Fn::GetAtt": [DEAD_LETTER_QUEUE_ID, "QueueName"]},
    )


def notify_resources() -> dict[str, Any]:
    """The notify queue, its dead letters, its access policy and its subscription to the topic."""
    return {
        DEAD_LETTER_QUEUE_ID: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "MessageRetentionPeriod": RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
            },
        },
        NOTIFY_QUEUE_ID: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": VISIBILITY_TIMEOUT_SECONDS,
                "MessageRetentionPeriod": RETENTION_SECONDS,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": [DEAD_LETTER_QUEUE_ID, "Arn"]},
                    "maxReceiveCount": MAX_RECEIVES,
                },
            },
        },
        f"{NOTIFY_QUEUE_ID}Policy": {
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": [{"Ref": NOTIFY_QUEUE_ID}],
                "PolicyDocument": queue_policy(
                    {"Fn::GetAtt": [NOTIFY_QUEUE_ID, "Arn"]}, {"Ref": TOPIC_ID}
                ),
            },
        },
        f"{NOTIFY_QUEUE_ID}Subscription": {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": TOPIC_ID},
                "Protocol": "sqs",
                "Endpoint": {"Fn::GetAtt": [NOTIFY_QUEUE_ID, "Arn"]},
                "RawMessageDelivery": True,
                "FilterPolicy": ALERT_FILTER,
            },
        },
    }


def ping_endpoint_parameter() -> dict[str, Any]:
    """The check JSON's ping base, a stack parameter rather than the function URL itself.

    CloudFormation cannot hand the API its ping function's URL: the URL names the ping
    function, whose VIGIL_SITE_ROOT names the REST API, whose routes name the API function, a
    cycle. So the stack's first create leaves it empty (ping_url on the REST API, as before)
    and an update sets it to the ``PingBaseURL`` output (or a CloudFront URL in front of it).
    """
    return {
        PING_ENDPOINT_PARAMETER: {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^(https?://.*/)?$",
            "ConstraintDescription": "empty, or an http(s) URL ending in /",
            "Description": "VIGIL_PING_ENDPOINT: the ping base every check's ping_url names, "
            "e.g. this stack's PingBaseURL output; empty keeps the REST API's",
        }
    }


def stage_settings(config: dict[str, Any], stage: str) -> Settings:
    """What the deployed code will read for ``stage`` (its variables over the global ones).

    Raises ``ConfigError`` with the setting's own message for a malformed value, so a deploy or
    a package stops before shipping a stack whose every request would fail on it.
    """
    merged = {
        **config.get("environment_variables", {}),
        **config.get("stages", {}).get(stage, {}).get("environment_variables", {}),
    }
    # The table and topic come from the stack (or make deploy); only their presence is checked.
    return Settings.from_env({"VIGIL_TABLE": "-", "VIGIL_TOPIC_ARN": "-", **merged})


def _configured(variable: str) -> bool:
    """The operator set ``variable`` for the package stage: chalice passes it on as given."""
    config = json.loads((CHALICE_DIR / "config.json").read_text())
    stage = config.get("stages", {}).get(PACKAGE_STAGE, {})
    return variable in {
        **config.get("environment_variables", {}),
        **stage.get("environment_variables", {}),
    }


def _log_retention_configured() -> bool:
    config = json.loads((CHALICE_DIR / "config.json").read_text())
    stage = config.get("stages", {}).get(PACKAGE_STAGE, {})
    return bool(stage.get("log_retention_in_days") or config.get("log_retention_in_days"))


def _api_log_group_fix() -> dict[str, Any]:
    """chalice 1.34 names the API function ``${ApiHandler}`` in its log group, but the function
    is ``APIHandler``: a dangling reference cfn-lint rejects (E3030). Only the name is replaced.
    """
    return {
        "ApiHandlerLogGroup": {
            "Properties": {
                "LogGroupName": {"Fn::Sub": f"/aws/lambda/${{{FUNCTION_IDS['api_handler']}}}"}
            }
        }
    }


def _outputs() -> dict[str, Any]:
    base = REST_API_BASE
    return {
        # Pings: the function URL (no API Gateway charge). It ends in a slash already.
        "PingBaseURL": {
            "Value": {"Fn::Join": ["", [{"Fn::GetAtt": [PING_URL_ID, "FunctionUrl"]}, "ping/"]]}
        },
        # The same pings through the REST API: custom domain, WAF and throttling apply there.
        "RestPingBaseURL": {"Value": {"Fn::Sub": base + "ping/"}},
        "ManagementApiURL": {"Value": {"Fn::Sub": base + "api/v3/"}},
        "TableName": {"Value": {"Ref": TABLE_ID}},
        "AlertTopicArn": {"Value": {"Ref": TOPIC_ID}},
        "NotifyDeadLetterQueueURL": {"Value": {"Ref": DEAD_LETTER_QUEUE_ID}},
    }
