"""The guides and the FAQ as data: well-formed, for the right roles (#16 scope 2, CARMO #10.3)."""

from __future__ import annotations

import re

from helpdesk import guides


def test_every_role_has_guides_and_questions() -> None:
    for role in ("pupil", "teacher", "staff", "referent"):
        assert guides.guides_for(role), role
        assert guides.questions_for(role), role
    assert [g.slug for g in guides.guides_for("teacher")] == [
        "couper-internet",
        "distribuer",
        "mes-fichiers",
    ]
    assert "premiere-semaine" not in {g.slug for g in guides.guides_for("pupil")}


def test_slugs_and_screenshot_names_are_unique_and_plain() -> None:
    slugs = [g.slug for g in guides.GUIDES]
    assert len(set(slugs)) == len(slugs)
    names = [g.screenshot(i) for g, i, _ in guides.screenshots()]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9-]+-\d{1,2}\.png", name) for name in names)
    # A step that shows a page says what to look for on it.
    assert all(step.selector for _, _, step in guides.screenshots())


def test_a_page_leads_to_the_guides_that_show_it() -> None:
    teacher = guides.guides_for("teacher")
    assert [g.slug for g in guides.about_page("/internet", teacher)] == ["couper-internet"]
    assert guides.about_page("/nulle-part", teacher) == []
    assert guides.guide("distribuer") is not None
    assert guides.guide("../etc") is None
