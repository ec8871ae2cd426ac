"""``make package``: a SAM/CloudFormation template of the whole stack, and its deployment zip.

    python -m tools.package [--out dist] [--no-lint]

Runs ``chalice package --stage cfn --merge-template`` (see tools/template.py), adds compiled
bytecode to the zip (Lambda cannot write ``__pycache__`` in /var/task, so without it every cold
start compiles every module it imports), then checks the result:
cfn-lint must pass, and the zip must hold only the pinned runtime closure of
requirements.txt (every distribution in it pinned there at that exact version; no boto3 or
botocore, which Lambda provides; no dev tool). Prints the template's resources and the zip size.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from chalicelib.errors import ConfigError
from tools.paths import ROOT, tool
from tools.template import PACKAGE_STAGE, merge_template, stage_settings

# Lambda's runtime provides these; a copy in the zip would shadow it and add megabytes.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3"}
# The app's own code and chalice's runtime shim (chalice/app.py), which chalice always adds.
APP_ENTRIES = {"app.py", "chalicelib", "chalice", "__pycache__"}
CHALICE_SHIM = {"chalice/__init__.py", "chalice/app.py"}
CHALICE_SHIM |= {str(importlib.util.cache_from_source(name)) for name in CHALICE_SHIM}
# Where Lambda unpacks the zip: compiled code names its source there, for tracebacks.
LAMBDA_TASK_ROOT = "/var/task"
_PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;#]+)")


class PackageError(Exception):
    """The package is not what may be shipped."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.package", description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "dist")
    parser.add_argument("--no-lint", action="store_true", help="skip cfn-lint")
    args = parser.parse_args(argv)
    try:
        template, zip_path = build(args.out)
        if not args.no_lint:
            lint(template)
            print(f"cfn-lint: {template.name} has no problems")
        entries = check_zip(zip_path, ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
    except (PackageError, subprocess.CalledProcessError) as error:
        print(f"package failed: {error}", file=sys.stderr)
        return 1
    print(report(template, zip_path, entries))
    return 0


def build(out: Path, project_dir: Path = ROOT) -> tuple[Path, Path]:
    """Write the merge template, run chalice package; return the template and zip paths."""
    config = json.loads((project_dir / ".chalice" / "config.json").read_text())
    try:
        stage_settings(config, PACKAGE_STAGE)
    except ConfigError as error:  # every request of the stack would fail on it
        raise PackageError(f"stage {PACKAGE_STAGE!r}: {error}") from None
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    merge = out / "merge-template.json"
    merge.write_text(json.dumps(merge_template(), indent=2) + "\n")
    env = dict(os.environ)
    # chalice package insists on a region although the template is region-neutral.
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION") or "us-east-1")
    subprocess.run(
        [
            tool("chalice"),
            "package",
            "--stage",
            PACKAGE_STAGE,
            "--merge-template",
            str(merge),
            str(out),
        ],
        cwd=project_dir,
        env=env,
        check=True,
    )
    template, zip_path = out / "sam.json", out / "deployment.zip"
    add_bytecode(zip_path, runtimes(template))
    return template, zip_path


def runtimes(template: Path) -> set[str]:
    resources = json.loads(template.read_text())["Resources"]
    return {
        body["Properties"]["Runtime"]
        for body in resources.values()
        if body["Type"] == "AWS::Serverless::Function"
    }


def add_bytecode(zip_path: Path, lambda_runtimes: set[str]) -> int:
    """Compile every module in the zip into ``__pycache__``; returns how many.

    The bytecode is this interpreter's, so it is only valid if Lambda runs the same minor
    version: chalice picks the runtime from the local interpreter (traps.md section 5), and this
    refuses a template that says otherwise. Unchecked-hash pycs: Python loads them without
    comparing the source's timestamp, which unzipping does not preserve to the second.
    """
    interpreter = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if lambda_runtimes != {interpreter}:
        raise PackageError(f"runtime {sorted(lambda_runtimes)} is not this {interpreter}")
    with zipfile.ZipFile(zip_path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    compiled: list[tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory() as scratch:
        for info, data in entries:
            if info.filename.endswith(".py"):
                compiled.append(_compile(info.filename, data, Path(scratch)))
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
        for name, pyc in compiled:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16  # readable by Lambda's sandbox user
            archive.writestr(info, pyc)
    return len(compiled)


def _compile(name: str, source: bytes, scratch: Path) -> tuple[str, bytes]:
    src, pyc = scratch / "module.py", scratch / "module.pyc"
    src.write_bytes(source)
    try:
        py_compile.compile(
            str(src),
            cfile=str(pyc),
            dfile=f"{LAMBDA_TASK_ROOT}/{name}",
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError as error:
        raise PackageError(f"{name} does not compile: {error.msg}") from error
    return str(importlib.util.cache_from_source(name)), pyc.read_bytes()


def lint(template: Path) -> None:
    reply = subprocess.run([tool("cfn-lint"), str(template)], capture_output=True, text=True)
    if reply.returncode != 0:
        raise PackageError(f"cfn-lint found problems in {template}:\n{reply.stdout}{reply.stderr}")


def check_zip(zip_path: Path, requirements: Path, dev_requirements: Path) -> list[str]:
    """Refuse anything but app code and the exact pins of requirements.txt; list top entries."""
    runtime = pins(requirements)
    dev_only = set(pins(dev_requirements)) - set(runtime)
    names = zipfile.ZipFile(zip_path).namelist()
    top = sorted({name.split("/", 1)[0] for name in names})
    problems = [
        f"{name} is more than chalice's runtime shim"
        for name in names
        if name.startswith("chalice/") and name not in CHALICE_SHIM
    ]
    for entry in top:
        if entry in APP_ENTRIES:
            continue
        if entry.endswith(".dist-info"):
            name, version = _dist_info(entry)
            if runtime.get(name) != version:
                problems.append(f"{entry} is not pinned in {requirements.name}")
        elif _normalize(entry.removesuffix(".py")) in RUNTIME_PROVIDED | dev_only:
            problems.append(f"{entry} must not be shipped")
    if problems:
        raise PackageError("; ".join(problems))
    return top


def pins(requirements: Path) -> dict[str, str]:
    """``name==version`` lines by normalised name; ``-r`` includes are followed."""
    found: dict[str, str] = {}
    for line in requirements.read_text().splitlines():
        line = line.strip()
        if line.startswith("-r "):
            found.update(pins(requirements.parent / line[3:].strip()))
        elif match := _PIN.match(line):
            found[_normalize(match.group(1))] = match.group(2)
    return found


def report(template: Path, zip_path: Path, entries: list[str]) -> str:
    resources = json.loads(template.read_text())["Resources"]
    size = zip_path.stat().st_size
    lines = [f"Template: {template}  ({len(resources)} resources)"]
    lines += [
        f"  {logical_id:<28} {body['Type']}" for logical_id, body in sorted(resources.items())
    ]
    lines.append(f"Deployment zip: {zip_path}  {size:,} bytes ({size / 1_048_576:.2f} MiB)")
    lines.append("  contents: " + ", ".join(e for e in entries if not e.endswith(".dist-info")))
    return "\n".join(lines)


def _dist_info(entry: str) -> tuple[str, str]:
    name, version = entry.removesuffix(".dist-info").rsplit("-", 1)
    return _normalize(name), version


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


if __name__ == "__main__":
    sys.exit(main())
