"""``python -m tools.bench [--quick] [--json PATH]``: run the six benchmarks, print the figures."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tools.bench.report import captured_output
from tools.bench.sandbox import isolate_env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke mode: small sizes (CI)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    isolate_env()  # before anything can create a boto3 client

    from tools.bench import coldstart, cost_model, latency, ping_cost, ping_overhead, sweep_cost

    started = time.perf_counter()
    mode = "quick (smoke: small sizes, figures not for publishing)" if args.quick else "full"
    print(f"Vigil benchmarks, {mode}; every AWS call goes to moto.", flush=True)
    figures: dict[str, Any] = {}
    pings = _section(figures, "ping_cost", ping_cost.run, ping_cost.render, args.quick)
    _section(figures, "ping_overhead", ping_overhead.run, ping_overhead.render, args.quick)
    fleets = _section(figures, "sweep_cost", sweep_cost.run, sweep_cost.render, args.quick)
    _section(figures, "alert_latency", latency.run, latency.render, args.quick)
    _section(figures, "cold_start", coldstart.run, coldstart.render, args.quick)
    model = cost_model.run(pings, fleets)
    figures["cost_model"] = asdict(model)
    print(cost_model.render(model))
    print(f"\nDone in {time.perf_counter() - started:.0f} s.")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    return 0


def _section(figures: dict[str, Any], name: str, run: Any, render: Any, quick: bool) -> Any:
    print(f"[{name}] running...", file=sys.stderr, end=" ", flush=True)
    started = time.perf_counter()
    with captured_output():  # the app's own log lines; sections measure theirs inside
        result = run(quick)
    print(f"{time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    figures[name] = [asdict(r) for r in result] if isinstance(result, list) else asdict(result)
    print(render(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(main())
