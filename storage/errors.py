"""The spaces' refusal: one exception every entry point turns into a clear 4xx."""

from __future__ import annotations


class SpaceError(ValueError):
    """A path or an operation the space refuses (the reason names it)."""
