"""Translations with gettext: every string the code shows is in its folder's catalogue (#12).

CARMO #5.13 asks for a French interface; English is the second language. The
catalogues are checked against the code itself (Babel's extraction), so a
string added without its translation, or a translation kept for a string
the code no longer shows, fails here rather than on a pupil's screen.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from appliance.catalogue_sync import (
    ROOT,
    catalogue_path,
    folder_messages,
    read_catalogue,
    translated_folders,
    update,
)
from appliance.features import installed_features
from appliance.i18n import N_, Catalogues, merged_labels
from appliance.problems import Problem, UserError, UserPermissionError, problem_of
from appliance.services import service_names
from appliance.web.labels import LABELS
from filter.state import FilterStateError

PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def test_every_feature_with_pages_keeps_a_catalogue() -> None:
    folders = {path.name for path in translated_folders()}
    assert "appliance" in folders
    for feature in installed_features():
        if feature.templates_package or feature.menu:
            assert feature.translations is not None, feature.name
            assert feature.translations in folders, feature.name


@pytest.mark.parametrize("folder", translated_folders(), ids=lambda path: path.name)
def test_catalogue_matches_the_code_and_is_translated(folder: Path) -> None:
    shown = folder_messages(folder)
    catalogue = read_catalogue(catalogue_path(folder, "en"), "en")
    kept = {str(message.id): str(message.string or "") for message in catalogue if message.id}
    missing = sorted(set(shown) - set(kept))
    stale = sorted(set(kept) - set(shown))
    assert not missing, f"not in {folder.name}'s catalogue (./dev catalogues): {missing}"
    assert not stale, f"no longer used by {folder.name}'s code (./dev catalogues): {stale}"
    for french, english in kept.items():
        assert english, f"untranslated: {french!r}"
        # A copy is a forgotten translation, unless a short word (Android, Service).
        short = len(PLACEHOLDER.sub("", french)) < 12
        assert english != french or short, f"copied, not translated: {french!r}"
        # The same placeholders, and a text that formats (a lone % is written %%).
        assert set(PLACEHOLDER.findall(french)) == set(PLACEHOLDER.findall(english)), french
        values = dict.fromkeys(PLACEHOLDER.findall(french), "x")
        french % values
        english % values


def test_the_check_sees_a_new_string_and_a_dropped_one(tmp_path: Path) -> None:
    """The extraction the test relies on finds Python and template strings."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "views.py").write_text(
        'LABEL = N_("Salle des profs")\nTITLE = _("Emploi du temps")\n'
    )
    (tmp_path / "templates" / "page.html").write_text('<p>{{ _("Cahier de textes") }}</p>')
    assert set(folder_messages(tmp_path)) == {
        "Salle des profs",
        "Emploi du temps",
        "Cahier de textes",
    }
    added, removed = update(tmp_path, {"Emploi du temps": "Timetable"})
    assert (added, removed) == (3, 0)
    (tmp_path / "views.py").write_text('TITLE = _("Emploi du temps")\n')
    assert update(tmp_path) == (0, 1)  # "Salle des profs" is gone; nothing else is lost
    kept = read_catalogue(catalogue_path(tmp_path, "en"), "en")
    assert {str(m.id): m.string for m in kept if m.id} == {
        "Emploi du temps": "Timetable",
        "Cahier de textes": "",
    }


def test_no_template_builds_a_message_from_a_value() -> None:
    """Dynamic keys are gone: ``_()`` takes a literal, a label or a marked message."""
    templates = [*ROOT.glob("appliance/web/templates/*.html"), *ROOT.glob("*/templates/**/*.html")]
    assert len(templates) > 10
    allowed = re.compile(
        r"""_\((["']|labels\[|entry\.label\)|error\)|service\.detail,|figure\.(label|caption)\)|part\)|title\)|explanation\)"""
        # The help's guides and questions: data marked N_ in helpdesk/guides.py.
        r"""|guide\.(title|summary)\)|item\.step\.text\)|q\.(question|answer)\)"""
        # A settings form's title: a SettingsForm's, marked N_.
        r"""|entry\.form\.title\))"""
    )
    for template in templates:
        text = template.read_text()
        assert not re.search(r"\bt\(", text), template
        for call in re.finditer(r"\b_\(", text):
            assert allowed.match(text, call.start()), (
                template,
                text[call.start() : call.start() + 40],
            )


def test_every_service_and_label_reads_in_both_languages() -> None:
    features = installed_features()
    labels = merged_labels([("appliance", LABELS), *((f.name, f.labels) for f in features)])
    catalogues = Catalogues(
        ["appliance", *(f.translations for f in features if f.translations is not None)]
    )
    for name in service_names():
        assert name in labels["service"], name
    for family in labels.values():
        for french in family.values():
            assert catalogues.gettext("fr", french) == french
            assert catalogues.gettext("en", french) != french or len(french) < 12, french
    assert catalogues.gettext("en", labels["role"]["pupil"]) == "Pupil"
    with pytest.raises(ValueError, match="service"):
        merged_labels([("a", {"service": {"web": "x"}}), ("b", {"service": {"web": "y"}})])


def _refusal_classes() -> set[str]:
    """Return the names of every refusal class a person may read (imported from each folder)."""
    for folder in translated_folders():
        for path in folder.rglob("*.py"):
            if "tests" in path.parts or path.name == "__main__.py":
                continue
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            importlib.import_module(module.removesuffix(".__init__"))
    found: set[str] = set()
    pending: list[type[BaseException]] = [UserError, UserPermissionError]
    while pending:
        cls = pending.pop()
        found.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return found


def test_every_refusal_is_raised_with_a_marked_message() -> None:
    """A refusal's message is an ``N_`` literal (or a named one), never a built string.

    Otherwise the reader who asked for English gets French, or the catalogue
    never sees the sentence. Checked on the code itself (its syntax tree).
    """
    refusals = _refusal_classes()
    assert {"FilterStateError", "PortalStateError", "SpaceError", "StoreError"} <= refusals
    checked = 0
    for folder in translated_folders():
        for path in folder.rglob("*.py"):
            if "tests" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name not in refusals:
                    continue
                checked += 1
                first = node.args[0]
                assert not isinstance(first, ast.Constant | ast.JoinedStr | ast.BinOp), (
                    f"{path.relative_to(ROOT)}:{node.lineno}: mark the message N_(…)"
                )
    assert checked > 60


def test_a_problem_is_said_in_each_language_with_its_values() -> None:
    catalogues = Catalogues(["appliance", "filter"])
    refusal = FilterStateError(N_("target : aucun groupe nommé « %(name)s »"), name="6e%B")
    assert str(refusal) == "target : aucun groupe nommé « 6e%B »"  # French, "%" in a value kept
    assert refusal.problem.said(catalogues.gettext_for("en")) == "target: no group named “6e%B”"
    nested = Problem(
        N_("%(key)s : %(reason)s"), {"key": "day", "reason": Problem(N_("obligatoire"))}
    )
    assert nested.said(catalogues.gettext_for("en")) == "day: required"
    # Text that is not ours (an OS error) is shown as it is, never read as a message id.
    assert problem_of(OSError("100% full")).said(catalogues.gettext_for("en")) == "100% full"


def test_no_message_is_marked_inside_an_f_string() -> None:
    """Babel reads ``f"{_('…')}"`` on Python 3.12 and later only: Debian 13 found a string
    Debian 12's catalogue check never saw. A message is marked outside f-strings."""
    inside = re.compile(r"""\{\s*N?_\(""")
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in translated_folders()
        for path in folder.rglob("*.py")
        if "tests" not in path.parts
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if inside.search(line) and ('f"' in line or "f'" in line)
    ]
    assert not found, found
