"""The ping function's Lambda Handler: ``chalicelib.ping_function`` loaded by init-phase rules.

Lambda's init phase imports the Handler's module once; every object that import creates lives
as long as the process (modules, classes, the DynamoDB client and its service model). Python's
cyclic garbage collector still walks them all, over and over, while they load: measured on the
ping function's import, about 110 collections that took 7-9 ms and freed nothing (24 objects in
all). So, in Lambda only, the collector is off while the module loads; what the load built is
then frozen (``gc.freeze``: moved out of the collector's reach for good, as CPython advises
before a fork) and the collector turned back on, so a warm request's collections skip it too.

Outside Lambda (tests, the local stack) nothing changes: a frozen test process would keep its
garbage. ``tools.template.PING_HANDLER`` names ``ping`` here; ``python -m tools.bench.coldstart``
measures the cold start it gives (docs/performance.md, issue 10).
"""

from __future__ import annotations

import gc
import importlib
import os
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

LAMBDA_RUNTIME_VARIABLE = "AWS_LAMBDA_RUNTIME_API"  # as chalicelib.wiring.init_lambda checks


def load(module: str, environ: Mapping[str, str] = os.environ) -> ModuleType:
    """Import ``module``; in Lambda, with the collector off and what it built frozen after."""
    if not environ.get(LAMBDA_RUNTIME_VARIABLE):
        return importlib.import_module(module)
    collecting = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(module)
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


ping: Callable[[dict[str, Any], Any], dict[str, Any]] = load("chalicelib.ping_function").handler
