"""Validation errors in plain French, for the referent's screens, the API and the CLI.

pydantic explains a refused value in English and, for a pattern, with the
regular expression itself ("String should match pattern '^\\d{7}[A-Z]$'").
A referent reads "7 chiffres et une lettre majuscule". :func:`french_problems`
turns pydantic's error list into one French sentence per problem, each
starting with the key's dotted path, so a bad config names the key and a bad
API body names the field (ground rule 3). The error *types* are pydantic's
stable identifiers (https://docs.pydantic.dev/latest/errors/validation_errors/);
a type this table does not know keeps pydantic's own message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from pydantic import ValidationError
from pydantic_core import ErrorDetails

# The patterns of the project's models, said in words.
PATTERNS: Final[Mapping[str, str]] = {
    r"^\d{7}[A-Z]$": "7 chiffres suivis d'une lettre majuscule (code UAI, ex. 0750001A)",
    r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$": (
        "une plage horaire HH:MM-HH:MM (ex. 08:00-17:30)"
    ),
    r"^ldaps?://": "une adresse commençant par ldap:// ou ldaps://",
    r"^EFFACER$": "le mot EFFACER en majuscules",
    r"^[a-z][a-z0-9_-]{0,31}$": (
        "une lettre minuscule puis au plus 31 lettres minuscules, chiffres, - ou _"
    ),
    r"^(https?|file)://": "une adresse commençant par http://, https:// ou file://",
    r"^[A-Za-z0-9.:-]{0,253}$": "un nom d'hôte ou une adresse (lettres, chiffres, . : -)",
    r"^[A-Za-z0-9._-]+$": "des lettres, des chiffres, . _ ou - (sans espace)",
}


def _plural(count: Any, one: str, many: str) -> str:
    return one if count in (0, 1) else many


_MESSAGES: Final[dict[str, Callable[[dict[str, Any]], str]]] = {
    "missing": lambda c: "obligatoire",
    "extra_forbidden": lambda c: "clé inconnue (mal orthographiée ?)",
    "string_type": lambda c: "un texte est attendu",
    "int_type": lambda c: "un nombre entier est attendu",
    "int_parsing": lambda c: "un nombre entier est attendu",
    "int_from_float": lambda c: "un nombre entier est attendu (sans virgule)",
    "float_type": lambda c: "un nombre est attendu",
    "float_parsing": lambda c: "un nombre est attendu",
    "bool_type": lambda c: "vrai ou faux (true ou false) est attendu",
    "bool_parsing": lambda c: "vrai ou faux (true ou false) est attendu",
    "list_type": lambda c: "une liste est attendue",
    "dict_type": lambda c: "une table est attendue",
    "model_type": lambda c: "une table de clés est attendue",
    "date_type": lambda c: "une date AAAA-MM-JJ est attendue",
    "date_parsing": lambda c: "une date AAAA-MM-JJ est attendue",
    "date_from_datetime_parsing": lambda c: "une date AAAA-MM-JJ est attendue",
    "date_from_datetime_inexact": lambda c: "une date sans heure est attendue",
    "too_short": lambda c: (
        f"au moins {c.get('min_length')} " + _plural(c.get("min_length"), "élément", "éléments")
    ),
    "too_long": lambda c: (
        f"au plus {c.get('max_length')} " + _plural(c.get("max_length"), "élément", "éléments")
    ),
    "string_too_short": lambda c: (
        "ne peut pas être vide"
        if c.get("min_length") == 1
        else f"au moins {c.get('min_length')} caractères"
    ),
    "string_too_long": lambda c: f"au plus {c.get('max_length')} caractères",
    "greater_than": lambda c: f"doit être supérieur à {c.get('gt')}",
    "greater_than_equal": lambda c: f"doit valoir au moins {c.get('ge')}",
    "less_than": lambda c: f"doit être inférieur à {c.get('lt')}",
    "less_than_equal": lambda c: f"doit valoir au plus {c.get('le')}",
    "literal_error": lambda c: f"une de ces valeurs est attendue : {c.get('expected')}",
    "enum": lambda c: f"une de ces valeurs est attendue : {c.get('expected')}",
    "string_pattern_mismatch": lambda c: (
        "attendu : "
        + PATTERNS.get(str(c.get("pattern")), f"un texte de la forme {c.get('pattern')}")
    ),
    "json_invalid": lambda c: "ce n'est pas du JSON valide",
}


def french_message(error: ErrorDetails) -> str:
    """Return one problem said in French (pydantic's words for a type not listed)."""
    kind = error["type"]
    if kind == "value_error":
        # Our own validators raise ValueError with a French sentence already.
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        return reason
    make = _MESSAGES.get(kind)
    return make(dict(error.get("ctx", {}))) if make is not None else error["msg"]


def french_problems(err: ValidationError, *, whole: str = "corps") -> list[str]:
    """Return "key.path : problem" for each error, in French."""
    problems = []
    for error in err.errors():
        where = ".".join(str(part) for part in error["loc"]) or whole
        problems.append(f"{where} : {french_message(error)}")
    return problems
