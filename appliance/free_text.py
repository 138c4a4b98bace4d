"""The one check of a text a person writes for other people to read (a message, a name).

Trimmed, not empty, bounded, printable: control characters are refused
(line breaks only where ``lines`` allows them), so a text can be shown in a
page, a table or a log line without surprises. Every entry point (API,
pages, CLI) calls this before anything is written.
"""

from __future__ import annotations

from appliance.i18n import N_
from appliance.problems import Problem, UserError


class TextRefused(UserError):
    """A text that cannot be taken as it is; names the field."""


def checked_text(text: str, limit: int, field: str, *, lines: bool = True) -> str:
    """Return ``text`` trimmed, or refuse it (empty, longer than ``limit``, control characters).

    ``field`` is the field's name in French, marked ``N_``.
    """
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise TextRefused(N_("%(field)s : écrivez quelques mots."), field=Problem(field))
    if len(text) > limit:
        raise TextRefused(
            N_("%(field)s : au plus %(count)s caractères."), field=Problem(field), count=limit
        )
    allowed = "\n\t" if lines else ""
    if any(not (c.isprintable() or c in allowed) for c in text):
        raise TextRefused(N_("%(field)s : caractères de contrôle refusés."), field=Problem(field))
    return text
