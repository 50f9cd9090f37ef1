"""What the terminal can show: ASCII spellings for a stream that cannot encode convlint's
mathematics, and colour only on a terminal that wants it.

Messages use `·`, `×`, `−`, `⌊ ⌋` and a few more. On a stream whose encoding lacks them
(`PYTHONIOENCODING=ascii`, a legacy Windows console) writing them would raise
UnicodeEncodeError; `install` makes such a stream spell them in ASCII instead (`2*0`, `224x224`,
`floor((H - 11)/4)`), and anything else it cannot encode as `?`.
"""

from __future__ import annotations

import codecs
import os

ASCII_SPELLINGS = {
    "·": "*",
    "×": "x",
    "−": "-",
    "⌊": "floor(",
    "⌋": ")",
    "⌈": "ceil(",
    "⌉": ")",
    "→": "->",
    "≡": "==",
    "≈": "~",
    "≤": "<=",
    "≥": ">=",
    "≠": "!=",
    "∈": "in",
    "Σ": "sum",
    "…": "...",
    "—": "--",
    "–": "-",
    "─": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
}
ERRORS = "convlint-ascii"


def ascii_spelling(text: str) -> str:
    """`text` with the characters above spelled in ASCII, and any other non-ASCII one as `?`."""
    return "".join(ASCII_SPELLINGS.get(c, "?") if ord(c) > 127 else c for c in text)


def _handler(error: UnicodeError):
    if not isinstance(error, UnicodeEncodeError):
        raise error
    bad = error.object[error.start : error.end]
    return "".join(ASCII_SPELLINGS.get(c, "?") for c in bad), error.end


codecs.register_error(ERRORS, _handler)


def can_encode(stream, text: str = "·×−⌊⌋") -> bool:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        text.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def install(stream) -> None:
    """Make a text stream (sys.stdout, sys.stderr) spell what its encoding lacks in ASCII."""
    if can_encode(stream, "·×−⌊⌋≡→…—"):
        return
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors=ERRORS)
        except (ValueError, OSError):  # a stream that cannot be reconfigured: write as it is
            pass


def wants_colour(stream) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org); never when piped.
    FORCE_COLOR turns it on anyway."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"
