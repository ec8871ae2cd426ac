"""The Go client (clients/go): gofmt, go vet, and its unit tests under the race detector."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests import golang
from tests.golang import GO_MODULE, run_go


def test_go_vet_is_clean() -> None:
    done = run_go("vet", "./...")
    assert done.returncode == 0, done.stdout + done.stderr


def test_go_sources_are_gofmt_clean() -> None:
    goroot = run_go("env", "GOROOT").stdout.strip()
    done = subprocess.run(
        [str(Path(goroot) / "bin" / "gofmt"), "-l", "."],
        cwd=GO_MODULE,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, ""), f"not gofmt-formatted:\n{done.stdout}"


def test_go_unit_tests_pass_under_the_race_detector() -> None:
    done = run_go("test", "-race", "-count=1", "./...")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok  \tvigil\t" in done.stdout


def test_missing_go_is_a_loud_skip_and_a_failure_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(golang, "shutil", SimpleNamespace(which=lambda name: None))
    monkeypatch.delenv("VIGIL_REQUIRE_GO", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install golang-go"):
        golang.go()
    monkeypatch.setenv("VIGIL_REQUIRE_GO", "1")
    with pytest.raises(pytest.fail.Exception, match="apt-get install golang-go"):
        golang.go()
