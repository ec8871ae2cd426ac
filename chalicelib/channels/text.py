"""Text helpers shared by the payload builders: limits, markup escaping, durations.

Vendors count characters (Unicode code points for JSON strings), so limits here are in ``str``
length. Truncation always leaves a visible marker, so a reader knows text was cut.

Escaping rules, from the vendors' docs:
- Slack mrkdwn treats only ``&``, ``<`` and ``>`` as control characters and asks for them as
  HTML entities (https://api.slack.com/reference/surfaces/formatting#escaping). That is what
  stops ``<!channel>``, ``<@U123>`` and ``<https://evil|click>`` from user-controlled text.
- Discord and Teams (Adaptive Card TextBlock) render a Markdown subset where a backslash
  escapes a markup character (https://support.discord.com/hc/en-us/articles/210298617,
  https://learn.microsoft.com/en-us/adaptive-cards/authoring-cards/text-features).
- A code fence in user text is broken with a zero-width space, so a job's output cannot close
  the block it is shown in and inject formatting after it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

MARKER = "…"
ZWSP = "\u200b"

# Brackets are escaped, so "(" can never start a link target; "#", "-", "+" and "1." only
# mean something (heading, list) at the start of a line.
_MARKDOWN_INLINE = re.compile(r"([\\*_~`|\[\]<>])")
_MARKDOWN_LINE_START = re.compile(r"^(\s*)([-+#]|\d+\.)", re.MULTILINE)


def truncate(text: str, limit: int, marker: str = MARKER) -> str:
    """Keep the head of ``text`` within ``limit`` characters, ending with ``marker`` if cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(marker), 0)] + marker[:limit]


def tail(text: str, limit: int, marker: str = MARKER) -> str:
    """Keep the end of ``text`` (where a job's errors usually are), starting with ``marker``."""
    if len(text) <= limit:
        return text
    keep = max(limit - len(marker), 0)
    return marker[:limit] + (text[-keep:] if keep else "")


def escape_slack(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_markdown(text: str) -> str:
    """Backslash-escape Markdown so user text renders literally (Discord, Teams)."""
    escaped = _MARKDOWN_INLINE.sub(r"\\\1", text)
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def break_fences(text: str) -> str:
    """Stop user text from closing a ``` code block (Slack, Discord)."""
    return text.replace("```", f"`{ZWSP}`{ZWSP}`")


def duration_words(seconds: float) -> str:
    """``5400`` → ``1 h 30 min``: the two largest units, as people say it."""
    remaining = max(int(seconds), 0)
    parts: list[str] = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2]) or "0 s"


def fit_escaped(
    text: str, limit: int, escape: Callable[[str], str], *, keep_end: bool = False
) -> str:
    """Escape ``text`` and cut it to ``limit`` without splitting an escape sequence.

    Cuts the raw text (the longest head, or tail, whose escaped form plus the marker fits),
    so ``&amp;`` or ``\\*`` is never left half-written at the cut.
    """
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    room = limit - len(MARKER)
    low, high = 0, len(text)
    while low < high:  # largest n whose escaped slice fits in room
        n = (low + high + 1) // 2
        if len(escape(_slice(text, n, keep_end))) <= room:
            low = n
        else:
            high = n - 1
    kept = escape(_slice(text, low, keep_end))
    return MARKER + kept if keep_end else kept + MARKER


def _slice(text: str, n: int, keep_end: bool) -> str:
    if keep_end:
        return text[len(text) - n :]
    return text[:n]
