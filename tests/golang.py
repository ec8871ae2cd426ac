"""Running the Go client's toolchain from pytest: found, or skipped loudly (or failed in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

GO_MODULE = Path(__file__).resolve().parent.parent / "clients" / "go"
MISSING = "Go tests NOT RUN: no `go` on PATH; apt-get install golang-go"


def go() -> str:
    """The go binary; without one, skip, unless VIGIL_REQUIRE_GO=1 (CI) makes that a failure."""
    found = shutil.which("go")
    if found is None:
        if os.environ.get("VIGIL_REQUIRE_GO") == "1":
            pytest.fail(MISSING + " (VIGIL_REQUIRE_GO=1)")
        pytest.skip(MISSING)
    return found


def go_env(**extra: str) -> dict[str, str]:
    # Debian's Go 1.19, standard library only: never fetch a toolchain or a module (traps.md §10).
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "1"}
    if "HOME" not in env and "XDG_CACHE_HOME" not in env:  # go needs somewhere for its cache
        env.setdefault("GOCACHE", str(Path(tempfile.gettempdir()) / "vigil-go-cache"))
        env.setdefault("GOPATH", str(Path(tempfile.gettempdir()) / "vigil-go-path"))
    return {**env, **extra}


def run_go(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [go(), *args],
        cwd=GO_MODULE,
        env=go_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
