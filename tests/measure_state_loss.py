"""What a crash of ``make run`` loses: how long until a ping answered 200 is in the state file.

    python -m tests.measure_state_loss FILLER_ITEMS SAMPLES    # e.g. 0 15, then 10000 10

Starts a stack (tests/stack.py), optionally fills the table with FILLER_ITEMS 200-byte items,
then sends SAMPLES pings at random moments and times each until the saved file holds it. The
largest time is what a SIGKILL at the worst moment loses (README, chalicelib/local.py).
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.stack import Stack, http, running_stack

POLL_SECONDS = 0.02


def on_disk(path: Path, check: str, number: int) -> bool:
    try:
        items = json.loads(path.read_text())["items"]
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    # A ping is saved once its entry is in the check item's ``recent`` list or in a LOG# page.
    for item in items:
        if item["pk"]["S"] != f"CHECK#{check}":
            continue
        if item["sk"]["S"] == "CHECK" and "log_base" in item:
            first, held = int(item["log_base"]["N"]) + 1, len(item["recent"]["L"])
        elif item["sk"]["S"].startswith("LOG#") and "first" in item:
            first, held = int(item["first"]["N"]), len(item["entries"]["L"])
        else:
            continue
        if first <= number < first + held:
            return True
    return False


def fill(stack: Stack, items: int) -> None:
    dynamodb, body = stack.dynamodb(), b"x" * 200
    for start in range(0, items, 25):
        batch = range(start, min(start + 25, items))
        requests: list[dict[str, Any]] = [
            {
                "PutRequest": {
                    "Item": {
                        "pk": {"S": f"CHECK#filler{i // 100}"},
                        "sk": {"S": f"PING#{i:08d}"},
                        "body": {"B": body},
                    }
                }
            }
            for i in batch
        ]
        dynamodb.batch_write_item(RequestItems={"vigil": requests})


def measure(filler: int, samples: int) -> dict[str, Any]:
    state = Path(tempfile.mkdtemp(prefix="vigil-measure-")) / "state.json"
    with running_stack(["--sweep-every", "3600"], state_file=state) as stack:
        key = stack.keys["api_key"]
        reply = http("POST", f"{stack.base}/api/v3/checks/", b'{"name": "m", "timeout": 3600}', key)
        check = json.loads(reply[1])["uuid"]
        fill(stack, filler)
        rng, latencies = random.Random(1), []
        for number in range(1, samples + 1):
            time.sleep(rng.uniform(0.1, 1.0))  # not in step with the saver's cadence
            assert http("GET", f"{stack.base}/ping/{check}") == (200, b"OK")
            answered = time.monotonic()
            while not on_disk(state, check, number):
                time.sleep(POLL_SECONDS)
            latencies.append(time.monotonic() - answered)
        size = state.stat().st_size
        assert stack.stop() == 0
    return {
        "filler_items": filler,
        "file_bytes": size,
        "samples": samples,
        "max_s": round(max(latencies), 2),
        "median_s": round(sorted(latencies)[len(latencies) // 2], 2),
    }


if __name__ == "__main__":
    print(json.dumps(measure(int(sys.argv[1]), int(sys.argv[2]))))
