"""The webhook verification snippet in docs/webhooks.md works against what Vigil sends."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from chalicelib.channels.webhook import build_webhook
from tests import channel_samples as samples

DOC = Path(__file__).resolve().parent.parent / "docs" / "webhooks.md"


def documented_verify(now: float) -> Any:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(code.group(1), namespace)
    namespace["time"] = SimpleNamespace(time=lambda: now)  # the receiver's clock, fixed
    return namespace["verify"]


def test_the_documented_snippet_accepts_vigils_signature_and_rejects_forgeries() -> None:
    request = build_webhook("https://x.example/hook", "s3cret", samples.down(), samples.T0)
    ts, sig = request.headers["X-Vigil-Timestamp"], request.headers["X-Vigil-Signature"]
    verify = documented_verify(samples.T0.timestamp() + 10)
    assert verify("s3cret", ts, sig, request.body)
    assert not verify("s3cret", ts, sig, request.body.replace(b"down", b"up!!"))
    assert not verify("wrong", ts, sig, request.body)
    assert not documented_verify(samples.T0.timestamp() + 301)("s3cret", ts, sig, request.body)
