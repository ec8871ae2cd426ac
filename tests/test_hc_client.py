"""A third-party Healthchecks client (healthchecks-io, from PyPI) against Vigil over HTTP.

The client pins libraries that clash with the app's, so it lives in a virtualenv of its own,
built once from tests/hc-client-requirements.txt, and drives a real ``serve`` stack.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack import ROOT, running_stack

pytestmark = pytest.mark.slow  # builds a venv, then a real stack

REQUIREMENTS = ROOT / "tests" / "hc-client-requirements.txt"
CLIENT_VENV = ROOT / ".venv-hc"
FLOW = ROOT / "tests" / "clients" / "hc_client_flow.py"


def client_python() -> Path:
    """The client's interpreter; the venv is rebuilt whenever the pins change."""
    python = CLIENT_VENV / "bin" / "python"
    stamp = CLIENT_VENV / ".requirements-sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not python.exists() or not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(CLIENT_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True
        )
        stamp.write_text(wanted)
    return python


@pytest.fixture(scope="module")
def flow_result() -> dict[str, object]:
    python = client_python()
    with running_stack() as stack:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "VIGIL_BASE": stack.base,
            "API_KEY": stack.keys["api_key"],
            "PING_KEY": stack.keys["ping_key"],
        }
        done = subprocess.run(
            [str(python), str(FLOW)], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert stack.stop() == 0
    return dict(json.loads(done.stdout))


def test_create_list_get_update(flow_result: dict[str, object]) -> None:
    assert flow_result["by_tag"] == ["nightly"]
    assert flow_result["all"] == ["hourly", "nightly"]
    assert flow_result["get"] == "nightly"
    assert flow_result["updated"] == ["nightly-backup", 900]
    assert flow_result["cron_status"] == "new"


def test_pings_by_uuid_and_slug(flow_result: dict[str, object]) -> None:
    assert flow_result["ping_uuid"] == [[True, "OK"]] * 4
    assert flow_result["ping_slug"] == [[True, "OK"]] * 2


def test_pings_and_flips_lists(flow_result: dict[str, object]) -> None:
    assert flow_result["pings"] == [
        ["success", 4, None],
        ["fail", 3, None],
        ["success", 2, pytest.approx(0, abs=5)],
        ["start", 1, None],
    ]
    # The server's {"flips": [...]}, read over HTTP: the client itself mis-parses it.
    assert flow_result["flips"] == [1, 0, 1]
    assert flow_result["client_flips_error"] == "TypeError"


def test_pause_resume_integrations_badges_delete(flow_result: dict[str, object]) -> None:
    assert (flow_result["paused"], flow_result["resumed"]) == ("paused", "new")
    assert flow_result["integrations"] == ["sns"]
    assert flow_result["badges"] == ["*", "db", "prod"]
    assert flow_result["deleted"] == flow_result["created"]
    assert flow_result["gone"] is True
