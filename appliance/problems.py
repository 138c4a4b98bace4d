"""What a person is told when something is refused, in the reader's language.

Design: a refusal is raised where it is found (a state layer, a path check,
a package reader), far from the request that will show it, and a French
sentence built there cannot be translated later. So a refusal carries a
:class:`Problem`: the French message id (marked ``N_`` for the catalogues,
with ``%(name)s`` placeholders) and its values. ``str()`` of a problem is
the French sentence (the logs, the CLI without a catalogue); each entry point
says it in its reader's language: the API's error envelope through the
request's catalogue (:func:`appliance.web.api_routes.error`), the pages
through ``_``, the CLI through its shell's language. A value may itself be a
problem (the reason after a key's name); it is translated too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.i18n import Gettext


def _french(message: str, **values: object) -> str:
    return message % values  # "%%" is a percent sign, as in the catalogues


@dataclass(frozen=True, slots=True)
class Problem:
    """A sentence to show: its French message id and the values it names."""

    message: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def said(self, gettext: Gettext) -> str:
        """Return the sentence through ``gettext`` (its values too, when they are problems)."""
        values = {
            key: value.said(gettext) if isinstance(value, Problem) else value
            for key, value in self.values.items()
        }
        return gettext(self.message, **values)

    def __str__(self) -> str:
        """Return the sentence in French."""
        return self.said(_french)


class UserError(ValueError):
    """A refusal its reader can act on; ``str()`` is French, ``problem`` translates."""

    def __init__(self, message: str | Problem, /, **values: Any) -> None:
        """Keep the problem: a message id marked ``N_`` and its values."""
        self.problem = message if isinstance(message, Problem) else Problem(message, values)
        super().__init__(str(self.problem))


class UserPermissionError(PermissionError):
    """A refusal for lack of a right (not a bad value); ``problem`` translates it."""

    def __init__(self, message: str | Problem, /, **values: Any) -> None:
        """Keep the problem: a message id marked ``N_`` and its values."""
        self.problem = message if isinstance(message, Problem) else Problem(message, values)
        super().__init__(str(self.problem))


def problem_of(error: BaseException | str | Problem) -> Problem:
    """Return what to show for ``error``: its problem, or its text as it is."""
    if isinstance(error, Problem):
        return error
    if isinstance(error, UserError | UserPermissionError):
        return error.problem
    # Not a refusal of ours (an OSError's text, say): shown as it is, never
    # used as a message id ("%" in it must not be read as a placeholder).
    return Problem("%(text)s", {"text": str(error)})
