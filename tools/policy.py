"""Per-function IAM policies: one source, rendered for ``chalice deploy`` and for CloudFormation.

The source is ``.chalice/grants-<function>.json``: what each Lambda function may do to the table,
its indexes, the topic and the topic's key, with ``${...}`` placeholders in CloudFormation's
``Fn::Sub`` syntax. ``.chalice/policy-logs.json`` holds the CloudWatch Logs grant every function
needs.

- ``make deploy`` substitutes the real ARNs and writes ``policy-<stage>-<function>.json``
  (logs + grants), which the stage's config names as each function's ``iam_policy_file``.
- ``make package`` gives chalice's roles the logs policy only and adds the grants as separate
  ``AWS::IAM::Policy`` resources whose ARNs are ``Fn::Sub`` of the stack's own resources
  (merge-template replaces lists, so the roles' ``Policies`` list is never merged into).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.paths import CHALICE_DIR

FUNCTIONS = ("api_handler", "sweep", "ping", "notify")
LOGS_POLICY_FILE = "policy-logs.json"

# CloudFormation logical ids of the stack's own resources; the placeholders are named after them.
TABLE_ID = "VigilTable"
TOPIC_ID = "AlertTopic"
TOPIC_KEY_ID = "AlertTopicKey"
NOTIFY_QUEUE_ID = "NotifyQueue"
DEAD_LETTER_QUEUE_ID = "NotifyDeadLetterQueue"
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9.:]+)\}")


@dataclass(frozen=True)
class Arns:
    table: str
    topic: str
    topic_key: str
    notify_queue: str
    dead_letter_queue: str

    def by_placeholder(self) -> dict[str, str]:
        # The account, region and partition the stack lives in: the topic's own.
        _, partition, _, region, account, _ = self.topic.split(":", 5)
        return {
            f"{TABLE_ID}.Arn": self.table,
            TOPIC_ID: self.topic,
            f"{TOPIC_KEY_ID}.Arn": self.topic_key,
            f"{NOTIFY_QUEUE_ID}.Arn": self.notify_queue,
            f"{DEAD_LETTER_QUEUE_ID}.Arn": self.dead_letter_queue,
            "AWS::Partition": partition,
            "AWS::Region": region,
            "AWS::AccountId": account,
        }


def grants_file(function: str, chalice_dir: Path = CHALICE_DIR) -> Path:
    return chalice_dir / f"grants-{function}.json"


def stage_policy_file(stage: str, function: str) -> str:
    """Relative to ``.chalice``, as chalice's ``iam_policy_file`` wants it."""
    return f"policy-{stage}-{function}.json"


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def deployed_policy(function: str, arns: Arns, chalice_dir: Path = CHALICE_DIR) -> dict[str, Any]:
    """The complete policy of ``function``'s role under ``chalice deploy``: logs + grants."""
    logs = load(chalice_dir / LOGS_POLICY_FILE)["Statement"]
    grants = load(grants_file(function, chalice_dir))["Statement"]
    values = arns.by_placeholder()
    return {
        "Version": "2012-10-17",
        "Statement": logs + [_map_resources(s, lambda v: _substitute(v, values)) for s in grants],
    }


def stack_policy_document(function: str, chalice_dir: Path = CHALICE_DIR) -> dict[str, Any]:
    """``function``'s grants for the CloudFormation stack: each placeholder becomes ``Fn::Sub``."""
    document = load(grants_file(function, chalice_dir))
    return dict(_map_resources(document, lambda v: {"Fn::Sub": v} if _PLACEHOLDER.search(v) else v))


def _substitute(value: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"unknown placeholder ${{{name}}} in a grants file")
        return values[name]

    return _PLACEHOLDER.sub(replace, value)


def _map_resources(node: Any, change: Callable[[str], Any]) -> Any:
    """Apply ``change`` to each resource string (actions and sids stay as written)."""
    if isinstance(node, dict):
        return {
            k: _map_resource(v, change) if k == "Resource" else _map_resources(v, change)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_map_resources(item, change) for item in node]
    return node


def _map_resource(value: Any, change: Callable[[str], Any]) -> Any:
    if isinstance(value, list):
        return [change(item) for item in value]
    return change(value)
