"""The appliance's words in French and English, with gettext (Babel).

Design:
- The message ids are the French text itself (French first, CARMO #5.13): a
  French page needs no catalogue, and whoever reads a template reads what the
  person will see.
- Each folder (the kernel, each feature) keeps its English catalogue in
  ``locale/en/LC_MESSAGES/messages.po``. A language's catalogues are
  compiled in memory (Babel) the first time a text is asked for in it; no
  ``.mo`` file is committed.
- Templates use ``jinja2.ext.i18n`` (newstyle): ``{{ _("Bonjour %(name)s",
  name=…) }}``; a literal percent sign is written ``%%``. Python code asks
  :meth:`Catalogues.gettext_for` for the same ``_``. A string defined away from
  where it is shown (a menu label, the name of a state) is marked ``N_("…")``
  where it is defined and translated where it is shown.
- ``tests/test_translations.py`` extracts every folder's strings with Babel
  and fails on a string missing from its catalogue, left untranslated, or
  kept in the catalogue after the code stopped using it.
"""

from __future__ import annotations

import functools
import gettext
import io
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING, Final

from babel.support import Translations

if TYPE_CHECKING:
    import jinja2
    import jinja2.runtime

LANGUAGES: Final = ("fr", "en")
SOURCE_LANGUAGE: Final = "fr"
DOMAIN: Final = "messages"

Gettext = Callable[..., str]


def N_(message: str) -> str:
    """Mark ``message`` for the catalogues; it is translated where it is shown."""
    return message


def catalogue_file(package: str, lang: str) -> Traversable:
    """Return where ``package`` keeps its catalogue for ``lang``."""
    return resources.files(package) / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def _compiled(source: Traversable, lang: str) -> Translations:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with source.open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


class Catalogues:
    """Every folder's catalogue, merged per language."""

    def __init__(self, packages: Iterable[str]) -> None:
        """Keep where the ``packages`` keep their catalogues (a package may have none)."""
        self._packages = tuple(packages)
        self._by_lang: dict[str, gettext.NullTranslations] = {
            SOURCE_LANGUAGE: gettext.NullTranslations()
        }

    def _translations(self, lang: str) -> gettext.NullTranslations:
        """Return ``lang``'s merged catalogue, compiled the first time it is asked for.

        Not when the service starts: French pages need none, and parsing every
        folder's catalogue was a tenth of the web's start on a slow box.
        """
        if lang not in LANGUAGES:
            lang = SOURCE_LANGUAGE
        translations = self._by_lang.get(lang)
        if translations is None:
            merged = Translations(domain=DOMAIN)
            for package in self._packages:
                source = catalogue_file(package, lang)
                if source.is_file():
                    merged.merge(_compiled(source, lang))
            translations = self._by_lang[lang] = merged
        return translations

    def gettext(self, lang: str, message: str) -> str:
        """Return ``message`` in ``lang`` (French if the language is unknown)."""
        return self._translations(lang).gettext(message)

    def ngettext(self, lang: str, singular: str, plural: str, count: int) -> str:
        """Return the singular or plural form of a message in ``lang``."""
        return self._translations(lang).ngettext(singular, plural, count)

    def gettext_for(self, lang: str) -> Gettext:
        """Return ``_(message, **values)`` for one language, as templates have it."""

        def translate(message: str, **values: object) -> str:
            return self.gettext(lang, message) % values

        return translate


def install_in(
    environment: jinja2.Environment,
    catalogues: Catalogues,
    labels: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    """Give templates ``_`` (in the page's ``lang``), ``labels`` and ``language_names``."""
    # Imported here: the filter and the cache render no template, and jinja2
    # is 9 MB of a process on a 1 GiB box (#15).
    import jinja2

    @jinja2.pass_context
    def _gettext(context: jinja2.runtime.Context, message: str) -> str:
        return catalogues.gettext(str(context.get("lang", SOURCE_LANGUAGE)), message)

    @jinja2.pass_context
    def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, count: int) -> str:
        lang = str(context.get("lang", SOURCE_LANGUAGE))
        return catalogues.ngettext(lang, singular, plural, count)

    environment.add_extension("jinja2.ext.i18n")
    environment.policies["ext.i18n.trimmed"] = True
    # mypy: the i18n extension adds this method to the environment.
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True
    )
    environment.globals["labels"] = dict(labels or {})
    environment.globals["language_names"] = LANGUAGE_NAMES

    @jinja2.pass_context
    def _octets(context: jinja2.runtime.Context, value: float) -> str:
        return octets_text(value, str(context.get("lang", SOURCE_LANGUAGE)))

    environment.filters["octets"] = _octets


# Units of a byte count: the French ones, then the English ones.
_OCTET_UNITS: Final = {
    "fr": ("o", "ko", "Mo", "Go", "To"),
    "en": ("B", "kB", "MB", "GB", "TB"),
}


@functools.cache
def _number_symbols(lang: str) -> tuple[str, str]:
    """Return the language's (group, decimal) separators from Babel's CLDR data."""
    from babel.numbers import format_decimal

    sample = str(format_decimal(1234.5, format="#,##0.0", locale=lang))
    return sample[1 : len(sample) - 5], sample[-2]


def number_text(value: float, lang: str) -> str:
    """Return a number as the language writes it: « 12 345 », « 5,4 » (Babel's CLDR data).

    The separators come from Babel once per language; the formatting itself is
    Python's, as a dashboard writes hundreds of numbers a page (bench/ui.py).
    """
    group, decimal = _number_symbols(lang)
    text = f"{value:,.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace(",", "\0").replace(".", decimal).replace("\0", group)


def octets_text(value: float, lang: str) -> str:
    """Return a byte count with its unit (decimal, like a disk's label): « 5,4 Mo »."""
    units = _OCTET_UNITS.get(lang, _OCTET_UNITS[SOURCE_LANGUAGE])
    scaled, index = float(value), 0
    while abs(scaled) >= 1000 and index < len(units) - 1:
        scaled, index = scaled / 1000, index + 1
    return f"{number_text(scaled, lang)}\u00a0{units[index]}"


def merged_labels(
    parts: Iterable[tuple[str, Mapping[str, Mapping[str, str]]]],
) -> dict[str, dict[str, str]]:
    """Merge each folder's families of labels (a value → its ``N_`` text).

    Templates show a state, a role or a service through these
    (``_(labels["role"][p.role])``), never by building a message from a value.
    Several folders may add to one family (each names its own services); a
    value named twice fails.
    """
    merged: dict[str, dict[str, str]] = {}
    owner: dict[tuple[str, str], str] = {}
    for name, families in parts:
        for family, labels in families.items():
            for value, label in labels.items():
                if (family, value) in owner:
                    raise ValueError(
                        f"label {family}[{value!r}] defined by {owner[family, value]} and {name}"
                    )
                owner[family, value] = name
                merged.setdefault(family, {})[value] = label
    return merged


LANGUAGE_NAMES: Final = {"fr": "Français", "en": "English"}  # each in its own language


def language_of(query: str | None, accept_language: str, default: str = SOURCE_LANGUAGE) -> str:
    """Return the language a request asks for: ``?lang=``, then ``Accept-Language``."""
    if query in LANGUAGES:
        return query
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return default


__all__: Sequence[str] = (
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "N_",
    "Catalogues",
    "catalogue_file",
    "install_in",
    "language_of",
    "merged_labels",
)


def folded(text: str) -> str:
    """Return ``text`` without accents and case ("Lefèvre" → "lefevre"), to match names."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
