"""``make bench`` still runs: its quick mode end to end, in a fresh interpreter. No timings."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the benchmarks in a subprocess
FIGURES = ("ping_cost", "ping_overhead", "sweep_cost", "alert_latency", "cold_start", "cost_model")


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    """The printed report and the JSON figures of one ``tools.bench --quick`` run."""
    figures = tmp_path_factory.mktemp("bench") / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(figures.read_text())


def test_quick_bench_prints_all_six_figures(quick_bench: tuple[str, dict[str, Any]]) -> None:
    printed, measured = quick_bench
    for number, title in enumerate(
        ("Ping cost", "Ping overhead", "Sweep cost", "Alert latency", "Cold start", "Cost model"),
        start=1,
    ):
        assert f"{number}. {title}" in printed
    assert set(measured) == set(FIGURES)


def test_quick_bench_counts_the_apps_own_requests(
    quick_bench: tuple[str, dict[str, Any]],
) -> None:
    """The meter hooks the clients the app really uses: a warm ping is one UpdateItem, and a
    sweep with one due check reads and writes. (A meter on the wrong session counts nothing,
    and every cost figure then comes out at zero.)"""
    _, measured = quick_bench
    warm = next(k for k in measured["ping_cost"]["kinds"] if k["kind"] == "success (uuid, warm)")
    assert (warm["requests"], warm["writes"], warm["reads"], warm["wru"]) == (
        "UpdateItem 1",
        1.0,
        0.0,
        1.0,
    )
    busy = measured["sweep_cost"][0]["sweep"]
    assert busy["items_read"] >= 1 and busy["wru"] > 0 and busy["publishes"] == 1
