"""The watchman's alarms, one definition for ``make deploy`` (PutMetricAlarm) and the stack.

PutMetricAlarm parameters and ``AWS::CloudWatch::Alarm`` properties share their names, so each
alarm is written once. Values may be plain strings (deploy) or intrinsic functions (template).

- **Sweeper heartbeat.** Every completed sweep counts ``SweepCompleted`` (EMF, namespace Vigil,
  dimension ``FunctionName``). Five silent minutes in a row alarm; missing data is breaching,
  because a sweeper that stopped running emits nothing at all. It covers a disabled schedule,
  a broken deployment and a sweeper that keeps failing before it completes.
- **Notifier dead letters**: an alert still undelivered to a channel after its retry budget.
- **Lambda errors and throttles** of every function (API, sweeper, ping, notifier), from
  AWS/Lambda. No invocations is no problem here, so missing data is not breaching.
- **Failed publishes.** Every failed alert publish counts ``AlertsFailed``. A flip that the
  API's first attempt could not publish is retried by the sweeper a minute later, so the
  sweeper's count is the one that says alerts are not getting out. One failure in the window
  alarms; the window outlasts the longest retry delay, so an alert that stays undeliverable
  keeps the alarm on (no flapping between retries), and it clears once nothing has failed
  for the whole window.

Every alarm notifies the alert topic on ALARM and again on OK, so subscribers see recovery.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from chalicelib import domain, metrics

HEARTBEAT_MINUTES = 5
FIVE_MINUTES = 300
# A sweep may fail once and succeed on Lambda's retry; three failures in five minutes is a trend.
SWEEP_ERRORS_THRESHOLD = 3
# Longest gap between two publish attempts of a stuck alert, plus a sweep, in 5-minute periods.
ALERTS_FAILED_PERIODS = math.ceil((domain.MAX_RETRY_DELAY.total_seconds() + 2 * 60) / FIVE_MINUTES)

Name = Callable[[str], Any]


def alarms(
    name: Name,
    api_function: Any,
    sweep_function: Any,
    topic: Any,
    ping_function: Any,
    notify_function: Any,
    dead_letter_queue: Any,
) -> dict[str, Any]:
    """Alarm properties by CloudFormation logical id; ``name(suffix)`` makes each AlarmName."""
    actions = {"AlarmActions": [topic], "OKActions": [topic], "ActionsEnabled": True}
    return {
        "NotifyDeadLettersAlarm": _dead_letter_alarm(
            name("notify-dead-letters"), dead_letter_queue, actions
        ),
        "NotifyErrorsAlarm": _lambda_alarm(
            name("notify-errors"), notify_function, "Errors", 1, actions
        ),
        "NotifyThrottlesAlarm": _lambda_alarm(
            name("notify-throttles"), notify_function, "Throttles", 1, actions
        ),
        "SweeperHeartbeatAlarm": {
            "AlarmName": name("sweeper-heartbeat"),
            "AlarmDescription": "Vigil's sweeper has not completed a sweep for "
            f"{HEARTBEAT_MINUTES} minutes: overdue checks are not being noticed.",
            "Namespace": metrics.NAMESPACE,
            "MetricName": metrics.SWEEP_COMPLETED,
            "Dimensions": [{"Name": metrics.FUNCTION_DIMENSION, "Value": sweep_function}],
            "Statistic": "Sum",
            "Period": 60,
            "EvaluationPeriods": HEARTBEAT_MINUTES,
            "DatapointsToAlarm": HEARTBEAT_MINUTES,
            "Threshold": 1,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",
            **actions,
        },
        "AlertsFailedAlarm": {
            "AlarmName": name("alerts-failed"),
            "AlarmDescription": "Vigil could not publish an alert to its topic. It is retried "
            "with backoff; the sweeper's alert_failed log lines say which check and why.",
            "Namespace": metrics.NAMESPACE,
            "MetricName": metrics.ALERTS_FAILED,
            "Dimensions": [{"Name": metrics.FUNCTION_DIMENSION, "Value": sweep_function}],
            "Statistic": "Sum",
            "Period": FIVE_MINUTES,
            "EvaluationPeriods": ALERTS_FAILED_PERIODS,
            "DatapointsToAlarm": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            **actions,
        },
        "SweepErrorsAlarm": _lambda_alarm(
            name("sweep-errors"), sweep_function, "Errors", SWEEP_ERRORS_THRESHOLD, actions
        ),
        "SweepThrottlesAlarm": _lambda_alarm(
            name("sweep-throttles"), sweep_function, "Throttles", 1, actions
        ),
        "ApiErrorsAlarm": _lambda_alarm(name("api-errors"), api_function, "Errors", 1, actions),
        "ApiThrottlesAlarm": _lambda_alarm(
            name("api-throttles"), api_function, "Throttles", 1, actions
        ),
        # The function URL's function: its throttles are pings refused (reserved concurrency).
        "PingErrorsAlarm": _lambda_alarm(name("ping-errors"), ping_function, "Errors", 1, actions),
        "PingThrottlesAlarm": _lambda_alarm(
            name("ping-throttles"), ping_function, "Throttles", 1, actions
        ),
    }


def _lambda_alarm(
    alarm_name: Any, function: Any, metric: str, threshold: int, actions: dict[str, Any]
) -> dict[str, Any]:
    return {
        "AlarmName": alarm_name,
        "AlarmDescription": f"Vigil: Lambda {metric.lower()} of a Vigil function "
        f"(at least {threshold} in five minutes).",
        "Namespace": "AWS/Lambda",
        "MetricName": metric,
        "Dimensions": [{"Name": "FunctionName", "Value": function}],
        "Statistic": "Sum",
        "Period": FIVE_MINUTES,
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        **actions,
    }


def _dead_letter_alarm(alarm_name: Any, queue: Any, actions: dict[str, Any]) -> dict[str, Any]:
    """Any alert a channel never took, after the whole retry budget (over an hour)."""
    return {
        "AlarmName": alarm_name,
        "AlarmDescription": "Vigil: an alert could not be delivered to a channel within its "
        "retry budget and is in the notifier's dead-letter queue (see the channel's last_error).",
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": queue}],
        "Statistic": "Maximum",
        "Period": FIVE_MINUTES,
        "EvaluationPeriods": 1,
        "Threshold": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        **actions,
    }
