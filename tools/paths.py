"""Where the project is, and how to find the tools installed beside this interpreter."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHALICE_DIR = ROOT / ".chalice"


def tool(name: str) -> str:
    """The console script beside this interpreter (``make`` runs .venv/bin/python), else PATH's."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else name
