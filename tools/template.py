"""The merge template ``make package`` hands to ``chalice package --merge-template``.

Chalice's template brings the two functions, their roles (logs grant only, from the ``cfn``
stage's ``policy-logs.json``), the REST API and the schedule. This adds what Vigil needs
around them: the table, the topic and its key, the per-function grants, the alarms, the
functions' environment, and outputs.

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
from typing import Any

from chalicelib.bootstrap import topic_key_policy
from chalicelib.dynamo import TABLE_SCHEMA, TTL_ATTRIBUTE
from tools.alarms import alarms
from tools.paths import CHALICE_DIR
from tools.policy import TABLE_ID, TOPIC_ID, TOPIC_KEY_ID, stack_policy_document

# Chalice's logical ids for the functions and the roles it makes with autogen_policy off.
FUNCTION_IDS = {"api_handler": "APIHandler", "sweep": "Sweep"}
ROLE_IDS = {"api_handler": "ApiHandlerRole", "sweep": "SweepRole"}
POLICY_IDS = {"api_handler": "ApiHandlerGrants", "sweep": "SweepGrants"}
REST_API_ID = "RestAPI"
API_STAGE = "api"
PACKAGE_STAGE = "cfn"


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
    for function in FUNCTION_IDS:
        resources[POLICY_IDS[function]] = _grants(function)
        resources[FUNCTION_IDS[function]] = _function_additions(function)
    for logical_id, properties in _alarms().items():
        resources[logical_id] = {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
    if _log_retention_configured():
        resources.update(_api_log_group_fix())
    return {"Resources": resources, "Outputs": _outputs()}


def _table() -> dict[str, Any]:
    return {
        "Type": "AWS::DynamoDB::Table",
        # The data outlives the stack: deleting or replacing the stack keeps the table.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            **TABLE_SCHEMA,
            "DeletionProtectionEnabled": True,
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
            "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
        },
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
                }
            }
        },
    }


def _alarms() -> dict[str, Any]:
    return alarms(
        name=lambda suffix: {"Fn::Sub": f"${{AWS::StackName}}-{suffix}"},
        api_function={"Ref": FUNCTION_IDS["api_handler"]},
        sweep_function={"Ref": FUNCTION_IDS["sweep"]},
        topic={"Ref": TOPIC_ID},
    )


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
    base = (
        f"https://${{{REST_API_ID}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}/"
    )
    return {
        "PingBaseURL": {"Value": {"Fn::Sub": base + "ping/"}},
        "ManagementApiURL": {"Value": {"Fn::Sub": base + "api/v3/"}},
        "TableName": {"Value": {"Ref": TABLE_ID}},
        "AlertTopicArn": {"Value": {"Ref": TOPIC_ID}},
    }
