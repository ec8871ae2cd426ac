"""The few rules every piece of outside text passes through, wherever it arrives.

Numbers in paths and query strings, strings in JSON bodies, and text we render into an email
or an SVG all meet the same traps: ``str.isdigit`` accepts ``²`` and ``int`` then fails, ``int``
refuses more than 4,300 digits, ``json`` accepts lone surrogates that no encoder will write,
``re.match(r"...$")`` lets a trailing newline through, and a control character in a name can
forge a line of an email. One helper per trap, used by every parser.
"""

from __future__ import annotations

import re

_ASCII_DIGITS = re.compile(r"[0-9]+")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: each can end or
# rewrite a line in a mail client or a terminal.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NOT_XML = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
_CONTROLS_BUT_TAB = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def ascii_int(raw: str, maximum: int) -> int | None:
    """``raw`` as an int if it is ASCII digits only and at most ``maximum``; else None.

    Leading zeros are fine (Django's int converter takes them). The value is never parsed
    from more digits than ``maximum`` has, so a 10,000-digit string costs nothing.
    """
    if not _ASCII_DIGITS.fullmatch(raw):
        return None
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(maximum)):
        return None
    value = int(digits)
    return value if value <= maximum else None


def has_surrogates(text: str) -> bool:
    """True if ``text`` holds a lone surrogate (valid JSON, but not encodable as UTF-8)."""
    return _SURROGATES.search(text) is not None


def has_controls(text: str) -> bool:
    return _CONTROLS.search(text) is not None


def printable(text: str) -> str:
    """``text`` with every control character (tab aside) shown as an escape, on one line."""
    return _CONTROLS_BUT_TAB.sub(_escape, text)


_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def svg_safe(text: str) -> str:
    """Drop what XML 1.0 cannot hold (controls, surrogates, U+FFFE/U+FFFF) before escaping."""
    return _NOT_XML.sub("", text)
