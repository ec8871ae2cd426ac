"""``make bench`` still runs: its quick mode end to end, in a fresh interpreter. No timings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the benchmarks in a subprocess
FIGURES = ("ping_cost", "ping_overhead", "sweep_cost", "alert_latency", "cold_start", "cost_model")


def test_quick_bench_prints_all_six_figures(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--quick", "--json", str(figures)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for number, title in enumerate(
        ("Ping cost", "Ping overhead", "Sweep cost", "Alert latency", "Cold start", "Cost model"),
        start=1,
    ):
        assert f"{number}. {title}" in done.stdout
    assert set(json.loads(figures.read_text())) == set(FIGURES)
