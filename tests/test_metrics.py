"""EMF lines: what CloudWatch will turn into metrics, checked line by line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import metrics
from tests.conftest import T0


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    metrics.reset()
    metrics.set_sink(metrics._stdout)
    yield
    metrics.reset()
    metrics.set_sink(metrics._stdout)


def emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def directive(line: dict[str, Any]) -> dict[str, Any]:
    (only,) = line["_aws"]["CloudWatchMetrics"]
    return dict(only)


def test_counts_are_summed_per_dimension_set_into_one_line_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics.count(metrics.PINGS, kind="success")
    metrics.count(metrics.PINGS, kind="success")
    metrics.count(metrics.PINGS, kind="fail")
    metrics.flush(T0)
    lines = sorted(emitted(capsys), key=lambda line: line["kind"])
    assert [(line["kind"], line["Pings"]) for line in lines] == [("fail", 1.0), ("success", 2.0)]
    for line in lines:
        assert line["_aws"]["Timestamp"] == int(T0.timestamp() * 1000)
        assert directive(line) == {
            "Namespace": "Vigil",
            "Dimensions": [["kind"]],
            "Metrics": [{"Name": "Pings", "Unit": "Count"}],
        }


def test_a_sweep_flushes_its_metrics_together_with_units(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics.timing(metrics.SWEEP_DURATION, 0.25)
    metrics.gauge(metrics.DUE_CHECKS, 3)
    metrics.gauge(metrics.OLDEST_DUE_LAG, 12.5, unit="Seconds")
    metrics.count(metrics.SWEEP_COMPLETED)
    metrics.flush(T0)
    (line,) = emitted(capsys)
    assert directive(line)["Dimensions"] == [[]]
    assert {m["Name"]: m["Unit"] for m in directive(line)["Metrics"]} == {
        "SweepDuration": "Seconds",
        "DueChecks": "Count",
        "OldestDueLagSeconds": "Seconds",
        "SweepCompleted": "Count",
    }
    assert (line["SweepDuration"], line["DueChecks"], line["SweepCompleted"]) == (0.25, 3, 1)
    assert line["OldestDueLagSeconds"] == 12.5


def test_timings_keep_every_observation_in_chunks_of_one_hundred(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for i in range(150):
        metrics.timing(metrics.SWEEP_DURATION, i / 1000)
    metrics.flush(T0)
    first, second = emitted(capsys)
    assert len(first["SweepDuration"]) == 100 and len(second["SweepDuration"]) == 50
    assert first["SweepDuration"][:2] == [0.0, 0.001]


def test_flush_empties_the_buffer_and_writes_nothing_when_idle(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics.count(metrics.FLIPS)
    metrics.flush(T0)
    metrics.flush(T0)
    assert len(emitted(capsys)) == 1


def test_in_lambda_every_metric_names_its_function(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "vigil-prod-sweep")
    metrics.count(metrics.SWEEP_COMPLETED)
    metrics.count(metrics.PINGS, kind="start")
    metrics.flush(T0)
    lines = emitted(capsys)
    assert all(line["FunctionName"] == "vigil-prod-sweep" for line in lines)
    assert sorted(directive(line)["Dimensions"][0] for line in lines) == [
        ["FunctionName"],
        ["FunctionName", "kind"],
    ]


def test_a_sink_of_none_drops_lines(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.set_sink(None)
    metrics.count(metrics.ALERTS_PUBLISHED)
    metrics.flush(T0)
    assert capsys.readouterr().out == ""


def _count_and_time(name: str) -> None:
    metrics.count(name)
    metrics.timing(name, 1.0)


@pytest.mark.parametrize(
    "record",
    [
        lambda: metrics.count("kind", kind="x"),
        lambda: metrics.count("Pings", kind=""),
        lambda: _count_and_time("X"),
    ],
    ids=["name-is-a-dimension", "empty-dimension", "two-kinds-for-one-name"],
)
def test_malformed_metrics_are_refused(record: Any) -> None:
    with pytest.raises(ValueError):
        record()


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_requests_flush_once_per_interval_with_the_counts_summed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ticks = Ticks()
    metrics.count(metrics.PINGS, kind="success")
    assert metrics.flush_if_due(60, ticks)  # a process's first request flushes
    for _ in range(5):
        ticks.now += 10
        metrics.count(metrics.PINGS, kind="success")
        assert not metrics.flush_if_due(60, ticks)
    ticks.now += 10  # 60 s after the first flush
    assert metrics.flush_if_due(60, ticks)
    assert [line["Pings"] for line in emitted(capsys)] == [1.0, 5.0]


def test_an_interval_of_zero_flushes_every_request_and_nothing_recorded_writes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ticks = Ticks()
    assert not metrics.flush_if_due(0, ticks)
    metrics.count(metrics.PINGS, kind="log")
    assert metrics.flush_if_due(0, ticks)
    metrics.count(metrics.PINGS, kind="log")
    assert metrics.flush_if_due(0, ticks)
    assert len(emitted(capsys)) == 2


@pytest.mark.parametrize(
    ("raw", "seconds"), [("", 60), ("0", 0), ("300", 300), ("2.5", 2.5), ("-1", 60), ("x", 60)]
)
def test_the_flush_interval_comes_from_the_environment(raw: str, seconds: float) -> None:
    assert metrics.flush_seconds({metrics.FLUSH_SECONDS_VARIABLE: raw}) == seconds


def test_the_per_ping_log_line_is_debug_unless_configured(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import logging

    from chalicelib.logs import log_event

    monkeypatch.delenv("VIGIL_PING_LOG_LEVEL", raising=False)
    with caplog.at_level(logging.INFO, logger="vigil"):
        log_event("ping", check="c1")
        log_event("flip", check="c1")
        monkeypatch.setenv("VIGIL_PING_LOG_LEVEL", "info")
        log_event("ping", check="c2")
    assert [(r.levelno, json.loads(r.getMessage())["event"]) for r in caplog.records] == [
        (logging.INFO, "flip"),
        (logging.INFO, "ping"),
    ]
    assert "c2" in caplog.text and '"c1", "event": "ping"' not in caplog.text


def test_the_lambda_init_hook_builds_the_dynamodb_client_the_first_ping_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto import mock_aws

    from chalicelib import wiring
    from chalicelib.dynamo import DynamoStore
    from chalicelib.settings import Settings

    settings = Settings(table="t", topic_arn="arn:aws:sns:us-east-1:123456789012:t")
    with mock_aws():
        assert not wiring.init_lambda({})  # tests, the local stack: nothing built at import
        assert wiring._early_clients == {}
        built: list[str] = []
        real = wiring.aws_client

        def recording(service: str) -> Any:
            built.append(service)
            return real(service)

        monkeypatch.setattr(wiring, "aws_client", recording)
        assert wiring.init_lambda({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"})
        assert built == ["dynamodb"]
        early = wiring._early_clients["dynamodb"]
        store = wiring.build_deps(settings).store
        assert isinstance(store, DynamoStore)
        assert store.client is early  # taken over, not built again
        assert built == ["dynamodb"] and wiring._early_clients == {}
        again = wiring.build_deps(settings).store
        assert isinstance(again, DynamoStore) and again.client is not early  # handed out once
    wiring.reset()
