"""Regenerate docs/img/*.png: the dashboard on a seeded local stack, light and dark, desktop
and phone (``make screenshots``).

The stack is the one ``make run`` starts, on free ports with a throwaway state file; the demo
history (weeks of runs, an outage, a failure with its output) is written through the service
layer with past times. Needs Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tools.paths import ROOT

OUT = ROOT / "docs" / "img"
# Links on the pictures read like a deployment's, not a random local port.
SITE_ROOT = "https://abc123.execute-api.eu-west-1.amazonaws.com/api"
WAIT_MS = 20_000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.screenshots", description=__doc__)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from tests.browser import missing_browser

    reason = missing_browser()
    if reason is not None:
        print(f"screenshots need a browser: {reason}", file=sys.stderr)
        return 1
    for path in shoot(args.out):
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return 0


def shoot(out: Path) -> list[Path]:
    from tests.browser import DESKTOP, PHONE, Seeder, chromium, seed_demo
    from tests.stack import running_stack

    out.mkdir(parents=True, exist_ok=True)
    os.environ["VIGIL_SITE_ROOT"] = SITE_ROOT
    written = []
    # No sweeps while seeding (the seeder sweeps once itself), so history stays as written.
    with running_stack(["--sweep-every", "3600"]) as stack, chromium() as browser:
        checks = seed_demo(Seeder(stack, datetime.now(UTC)))
        key = stack.keys["api_key"]
        backup = f"#/check/{checks['backup']['uuid']}"
        shots = [
            ("dashboard.png", "light", DESKTOP, "#/", False),
            ("dashboard-dark.png", "dark", DESKTOP, "#/", False),
            ("check.png", "light", DESKTOP, backup, True),
            ("check-dark.png", "dark", DESKTOP, backup, True),
            ("phone.png", "light", PHONE, "#/", False),
            ("phone-check-dark.png", "dark", PHONE, backup, True),
        ]
        for name, scheme, viewport, route, tall in shots:
            page = browser.new_page(viewport=viewport, color_scheme=scheme, device_scale_factor=1)
            page.goto(f"{stack.base}/#key={key}")
            _wait_for_list(page)
            if route != "#/":
                page.goto(f"{stack.base}/{route}")
                page.locator("table.pings").wait_for(timeout=WAIT_MS)
            page.wait_for_load_state("networkidle", timeout=WAIT_MS)
            path = out / name
            _capture(page, path, viewport, tall)
            page.close()
            written.append(path)
    return written


def _wait_for_list(page: Any) -> None:
    page.locator("tr[data-check] svg.spark").first.wait_for(timeout=WAIT_MS)
    # Sparklines load as rows come on screen: bring every row past the fold once.
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle", timeout=WAIT_MS)
    page.evaluate("window.scrollTo(0, 0)")


def _capture(page: Any, path: Path, viewport: dict[str, int], tall: bool) -> None:
    # The check page is long (the ping log); its top 1.8 screens show every kind of section.
    height = int(viewport["height"] * 1.8) if tall else None
    if height is None:  # the list: down to the end of its content
        bottom = page.evaluate("document.querySelector('main').getBoundingClientRect().bottom")
        page.screenshot(
            path=str(path),
            full_page=True,
            clip={"x": 0, "y": 0, "width": viewport["width"], "height": bottom},
        )
    else:
        page.set_viewport_size({"width": viewport["width"], "height": height})
        page.screenshot(path=str(path))


if __name__ == "__main__":
    sys.exit(main())
