"""``make package``: a SAM/CloudFormation template of the whole stack, and its deployment zip.

    python -m tools.package [--out dist] [--no-lint]

Runs ``chalice package --stage cfn --merge-template`` (see tools/template.py), then checks the
result: cfn-lint must pass, and the zip must hold only the pinned runtime closure of
requirements.txt (every distribution in it pinned there at that exact version; no boto3 or
botocore, which Lambda provides; no dev tool). Prints the template's resources and the zip size.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from tools.paths import ROOT, tool
from tools.template import PACKAGE_STAGE, merge_template

# Lambda's runtime provides these; a copy in the zip would shadow it and add megabytes.
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3"}
# The app's own code and chalice's runtime shim (chalice/app.py), which chalice always adds.
APP_ENTRIES = {"app.py", "chalicelib", "chalice"}
CHALICE_SHIM = {"chalice/__init__.py", "chalice/app.py"}
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
    return out / "sam.json", out / "deployment.zip"


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
