"""Keep each folder's gettext catalogue in step with its code (``./dev catalogues``).

Babel extracts the strings a folder shows (``_``, ``N_``, ``gettext`` calls in
Python; ``_()`` and ``{% trans %}`` in its Jinja templates); :func:`update`
adds the new ones (untranslated) to the folder's English catalogue and drops
those the code no longer uses. ``tests/test_translations.py`` runs the same
extraction and fails while a catalogue is stale or a string untranslated.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po, write_po

from appliance.i18n import DOMAIN, LANGUAGES, SOURCE_LANGUAGE

ROOT: Final = Path(__file__).resolve().parent.parent
# Python everywhere; Jinja in the templates folders (the i18n extension's calls).
METHODS: Final = [
    ("**/templates/**.html", "jinja2"),
    ("**.py", "python"),
]
OPTIONS: Final = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS: Final = {**DEFAULT_KEYWORDS, "N_": None}


def folder_messages(folder: Path) -> dict[str, list[tuple[str, int]]]:
    """Return every string ``folder`` shows, with where it appears."""
    found: dict[str, list[tuple[str, int]]] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        folder, METHODS, OPTIONS, KEYWORDS, comment_tags=(), strip_comment_tags=True
    ):
        text = message if isinstance(message, str) else message[0]
        if text:
            found.setdefault(text, []).append((filename, lineno))
    return found


def catalogue_path(folder: Path, lang: str) -> Path:
    """Return the ``.po`` file of ``folder`` for ``lang``."""
    return folder / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(path: Path, lang: str) -> Catalog:
    """Return the catalogue at ``path`` (an empty one if there is none yet)."""
    if not path.is_file():
        return Catalog(locale=lang, domain=DOMAIN, project="Préau")
    with path.open("rb") as po:
        return read_po(po, locale=lang, domain=DOMAIN)


def update(folder: Path, translations: dict[str, str] | None = None) -> tuple[int, int]:
    """Bring ``folder``'s catalogues in step with its code; return (added, removed)."""
    messages = folder_messages(folder)
    added = removed = 0
    for lang in LANGUAGES:
        if lang == SOURCE_LANGUAGE:
            continue
        path = catalogue_path(folder, lang)
        old = read_catalogue(path, lang)
        known = {str(m.id): str(m.string or "") for m in old if m.id}
        new = Catalog(
            locale=lang,
            domain=DOMAIN,
            project="Préau",
            copyright_holder="Préau's authors",
            creation_date=old.creation_date,
            revision_date=old.revision_date,
            last_translator="Préau's authors",
            language_team=f"{lang} <https://preau.invalid/>",
            fuzzy=False,
        )
        for text, where in sorted(messages.items()):
            string = known.get(text) or (translations or {}).get(text, "")
            new.add(text, string, locations=sorted({(f, 0) for f, _ in where}))
        added += len(set(messages) - set(known))
        removed += len(set(known) - set(messages))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as po:
            write_po(po, new, width=100, include_lineno=False, sort_output=True)
    return added, removed


def translated_folders() -> list[Path]:
    """Return the folders that keep a catalogue: the kernel's and each feature's."""
    return sorted({path.parent.parent.parent for path in ROOT.glob("*/locale/*/LC_MESSAGES")})


def main(argv: Sequence[str] | None = None) -> int:
    """Update the named folders' catalogues (all of them by default)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path)
    args = parser.parse_args(argv)
    folders: Iterable[Path] = args.folders or translated_folders()
    for folder in folders:
        added, removed = update(folder.resolve())
        print(f"{folder}: {added} new (to translate), {removed} no longer used")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
