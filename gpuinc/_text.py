"""Short text helpers for error messages."""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line, or its type's name when it has none."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def one_sentence(exc: BaseException) -> str:
    """:func:`one_line` ending with a full stop, to be followed by more sentences."""
    text = one_line(exc)
    return text if text.endswith((".", "!", "?")) else text + "."
