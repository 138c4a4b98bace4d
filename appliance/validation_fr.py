"""Validation errors in plain French, for the referent's screens, the API and the CLI.

pydantic explains a refused value in English and, for a pattern, with the
regular expression itself ("String should match pattern '^\\d{7}[A-Z]$'").
A referent reads "7 chiffres et une lettre majuscule". :func:`french_problems`
turns pydantic's error list into one French sentence per problem, each
starting with the key's dotted path, so a bad config names the key and a bad
API body names the field (ground rule 3). Each is a :class:`Problem`, so the
API says it in English to a reader who asked for English. The error *types* are pydantic's
stable identifiers (https://docs.pydantic.dev/latest/errors/validation_errors/);
a type this table does not know keeps pydantic's own message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from appliance.i18n import N_
from appliance.problems import Problem, problem_of

# The patterns of the project's models, said in words.
PATTERNS: Final[Mapping[str, str]] = {
    r"^\d{7}[A-Z]$": N_("7 chiffres suivis d'une lettre majuscule (code UAI, ex. 0750001A)"),
    r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$": N_(
        "une plage horaire HH:MM-HH:MM (ex. 08:00-17:30)"
    ),
    r"^ldaps?://": N_("une adresse commençant par ldap:// ou ldaps://"),
    r"^EFFACER$": N_("le mot EFFACER en majuscules"),
    r"^[a-z][a-z0-9_-]{0,31}$": N_(
        "une lettre minuscule puis au plus 31 lettres minuscules, chiffres, - ou _"
    ),
    r"^(https?|file)://": N_("une adresse commençant par http://, https:// ou file://"),
    r"^[A-Za-z0-9.:-]{0,253}$": N_("un nom d'hôte ou une adresse (lettres, chiffres, . : -)"),
    r"^[A-Za-z0-9._-]+$": N_("des lettres, des chiffres, . _ ou - (sans espace)"),
}


def _counted(count: Any, one: str, many: str, **values: Any) -> Problem:
    return Problem(one if count in (0, 1) else many, {"count": count, **values})


def _pattern(context: dict[str, Any]) -> Problem:
    pattern = str(context.get("pattern"))
    words = PATTERNS.get(pattern)
    shape = Problem(words) if words else Problem(N_("un texte de la forme %(pattern)s"),
                                                 {"pattern": pattern})  # fmt: skip
    return Problem(N_("attendu : %(shape)s"), {"shape": shape})


def _fixed(message: str) -> Callable[[dict[str, Any]], Problem]:
    return lambda _context: Problem(message)


def _with(message: str, key: str, name: str) -> Callable[[dict[str, Any]], Problem]:
    return lambda context: Problem(message, {name: context.get(key)})


_MESSAGES: Final[dict[str, Callable[[dict[str, Any]], Problem]]] = {
    "missing": _fixed(N_("obligatoire")),
    "extra_forbidden": _fixed(N_("clé inconnue (mal orthographiée ?)")),
    "string_type": _fixed(N_("un texte est attendu")),
    "int_type": _fixed(N_("un nombre entier est attendu")),
    "int_parsing": _fixed(N_("un nombre entier est attendu")),
    "int_from_float": _fixed(N_("un nombre entier est attendu (sans virgule)")),
    "float_type": _fixed(N_("un nombre est attendu")),
    "float_parsing": _fixed(N_("un nombre est attendu")),
    "bool_type": _fixed(N_("vrai ou faux (true ou false) est attendu")),
    "bool_parsing": _fixed(N_("vrai ou faux (true ou false) est attendu")),
    "list_type": _fixed(N_("une liste est attendue")),
    "dict_type": _fixed(N_("une table est attendue")),
    "model_type": _fixed(N_("une table de clés est attendue")),
    "date_type": _fixed(N_("une date AAAA-MM-JJ est attendue")),
    "date_parsing": _fixed(N_("une date AAAA-MM-JJ est attendue")),
    "date_from_datetime_parsing": _fixed(N_("une date AAAA-MM-JJ est attendue")),
    "date_from_datetime_inexact": _fixed(N_("une date sans heure est attendue")),
    "too_short": lambda c: _counted(
        c.get("min_length"), N_("au moins %(count)s élément"), N_("au moins %(count)s éléments")
    ),
    "too_long": lambda c: _counted(
        c.get("max_length"), N_("au plus %(count)s élément"), N_("au plus %(count)s éléments")
    ),
    "string_too_short": lambda c: (
        Problem(N_("ne peut pas être vide"))
        if c.get("min_length") == 1
        else Problem(N_("au moins %(count)s caractères"), {"count": c.get("min_length")})
    ),
    "string_too_long": _with(N_("au plus %(count)s caractères"), "max_length", "count"),
    "greater_than": _with(N_("doit être supérieur à %(bound)s"), "gt", "bound"),
    "greater_than_equal": _with(N_("doit valoir au moins %(bound)s"), "ge", "bound"),
    "less_than": _with(N_("doit être inférieur à %(bound)s"), "lt", "bound"),
    "less_than_equal": _with(N_("doit valoir au plus %(bound)s"), "le", "bound"),
    "literal_error": _with(
        N_("une de ces valeurs est attendue : %(values)s"), "expected", "values"
    ),
    "enum": _with(N_("une de ces valeurs est attendue : %(values)s"), "expected", "values"),
    "string_pattern_mismatch": _pattern,
    "json_invalid": _fixed(N_("ce n'est pas du JSON valide")),
}


def problem_in(error: ErrorDetails) -> Problem:
    """Return one problem in the reader's words (pydantic's for a type not listed)."""
    kind = error["type"]
    if kind == "value_error":
        # Our own validators raise a UserError (or a ValueError in French).
        return problem_of(error.get("ctx", {}).get("error", error["msg"]))
    make = _MESSAGES.get(kind)
    return make(dict(error.get("ctx", {}))) if make is not None else problem_of(error["msg"])


def french_message(error: ErrorDetails) -> str:
    """Return one problem said in French."""
    return str(problem_in(error))


def problems(err: ValidationError, *, whole: str = N_("corps")) -> list[Problem]:
    """Return "key.path : problem" for each error, to be said in the reader's language."""
    found = []
    for error in err.errors():
        where: str | Problem = ".".join(str(part) for part in error["loc"]) or Problem(whole)
        found.append(
            Problem(N_("%(key)s : %(reason)s"), {"key": where, "reason": problem_in(error)})
        )
    return found


def french_problems(err: ValidationError, *, whole: str = N_("corps")) -> list[str]:
    """Return "key.path : problem" for each error, in French."""
    return [str(found) for found in problems(err, whole=whole)]


def joined(parts: Sequence[Problem]) -> Problem:
    """Return several problems as one sentence ("a ; b")."""
    names = {f"p{index}": part for index, part in enumerate(parts)}
    return Problem("; ".join(f"%({name})s" for name in names), names)
