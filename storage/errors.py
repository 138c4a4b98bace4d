"""The spaces' refusal: one exception every entry point turns into a clear 4xx."""

from __future__ import annotations

from appliance.problems import UserError


class SpaceError(UserError):
    """A path or an operation the space refuses (the reason names it, in the reader's words)."""
