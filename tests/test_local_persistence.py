"""The local stack keeps its data across restarts: checks, ping history and the demo keys."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.stack import Stack, http, running_stack

SAVE_SECONDS = 20  # bounded wait for the save that follows a change (about a second; README)
NO_SWEEP = ("--sweep-every", "3600")  # saving must not depend on the sweeper


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    """Both stacks of a test share one state file, away from the developer's own .vigil/."""
    return tmp_path / "state.json"


def api(stack: Stack, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    status, reply = http(method, stack.base + path, data, stack.keys["api_key"])
    return status, json.loads(reply)


def create_and_ping(stack: Stack) -> str:
    status, check = api(stack, "POST", "/api/v3/checks/", {"name": "kept", "timeout": 3600})
    assert status == 201
    assert http("GET", f"{stack.base}/ping/{check['uuid']}/start") == (200, b"OK")
    assert http("POST", f"{stack.base}/ping/{check['uuid']}", b"backup done") == (200, b"OK")
    return str(check["uuid"])


def assert_kept(stack: Stack, first_keys: dict[str, str], check: str) -> None:
    assert stack.keys == first_keys, "the demo project and its keys are reused"
    assert "Restored" in stack.banner
    status, doc = api(stack, "GET", f"/api/v3/checks/{check}")
    assert status == 200 and doc["name"] == "kept"
    assert doc["n_pings"] == 2 and doc["status"] == "up"
    log = stack.ping_log(check)
    assert [entry.kind for entry in log] == ["start", "success"]
    assert log[1].ping.body == b"backup done"


@pytest.mark.slow
def test_a_clean_restart_keeps_checks_pings_and_demo_keys(state_file: Path) -> None:
    with running_stack(state_file=state_file) as first:
        check = create_and_ping(first)
        assert first.stop() == 0
    assert state_file.exists()
    with running_stack(state_file=state_file) as second:
        assert_kept(second, first.keys, check)
        # A ping after the restart continues the count where it stopped.
        assert http("GET", f"{second.base}/ping/{check}") == (200, b"OK")
        assert api(second, "GET", f"/api/v3/checks/{check}")[1]["n_pings"] == 3
        assert second.stop() == 0


@pytest.mark.slow
def test_a_crash_keeps_what_was_written_before_the_last_save(state_file: Path) -> None:
    """No sweep runs here: the saver alone puts each change on disk (chalicelib.local)."""
    with running_stack(NO_SWEEP, state_file=state_file) as first:
        check = create_and_ping(first)
        wait_until(lambda: saved_pings(state_file, check) == 2)
        first.process.kill()  # SIGKILL: no shutdown save, only the periodic one
        first.process.wait(timeout=20)
    with running_stack(state_file=state_file) as second:
        assert_kept(second, first.keys, check)
        assert second.stop() == 0


def saved_pings(state: Path, check: str) -> int:
    if not state.exists():
        return 0
    items = json.loads(state.read_text())["items"]
    # The newest pings live in the check item's ``recent`` list, older ones in ``LOG#`` pages.
    return sum(
        len(item.get("recent", item.get("entries", {"L": []}))["L"])
        for item in items
        if item["pk"]["S"] == f"CHECK#{check}" and item["sk"]["S"].split("#")[0] in ("CHECK", "LOG")
    )


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + SAVE_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not saved within {SAVE_SECONDS} s")
        time.sleep(0.2)


def test_binary_values_survive_the_json_state_file_at_any_depth() -> None:
    from chalicelib.local import decode_item, encode_item

    item = {
        "pk": {"S": "CHECK#x"},
        "body": {"B": b"\x00\xffbinary"},
        "set": {"BS": [b"a", b"\x01"]},
        "nested": {"M": {"inner": {"L": [{"B": b"\x02"}, {"N": "3"}, {"BOOL": True}]}}},
        "nothing": {"NULL": True},
    }
    assert decode_item(json.loads(json.dumps(encode_item(item)))) == item
