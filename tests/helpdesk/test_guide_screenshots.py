"""The guides' screenshots come from the real pages, so a guide cannot drift (#16 scope 2).

Each guide step that shows a page is opened in Chromium at 360 px, logged in
as the guide's role in the demo school: the element the step points to must
be on that page, and the screenshot is taken there. Every run keeps them in
``build/screenshots/guides``; ``./dev captures`` (``PREAU_UPDATE_GUIDES=1``)
copies them into ``helpdesk/static/captures``, the ones the box serves. A
test run never rewrites the checkout: a package built after it must not be
a "dirty" build. Then the guide's page shows each committed capture, and
every capture it names is served.
"""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from helpdesk import guides
from helpdesk.pages import CAPTURES
from tests.appliance.web.test_phone_layout import log_in, passwords
from tests.conftest import REPO, PreauProcess, make_config

pytestmark = pytest.mark.timeout(300)
# Who each role is in the demo school.
TAKEN = REPO / "build" / "screenshots" / "guides"
DEMO_LOGINS = {"referent": "referent", "teacher": "prof.durand", "staff": "vie.scolaire",
               "pupil": "l.bernard"}  # fmt: skip


def png_size(path: Path) -> tuple[int, int]:
    """Return a PNG's width and height from its header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_every_guide_step_matches_its_page_and_keeps_its_screenshot(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    # As on a box whose clock NTP keeps: no notice about an unsynchronised clock.
    running = preau_factory(make_config(tmp_path / "data", web={"clock": "host"}))
    known = passwords(running.config_path)
    browser.set_window_size(360, 640)
    TAKEN.mkdir(parents=True, exist_ok=True)
    current = ""
    missing: list[str] = []
    for guide, index, step in guides.screenshots():
        login = DEMO_LOGINS[guide.shown_as]
        if login != current:
            log_in(browser, running.base_url, login, known[login])
            current = login
        browser.get(f"{running.base_url}{step.page}")
        found = browser.find_elements(By.CSS_SELECTOR, step.selector)
        if not found:
            missing.append(f"{guide.slug} step {index + 1}: {step.selector} not on {step.page}")
            continue
        browser.execute_script(
            "(arguments[0].closest('section') || arguments[0]).scrollIntoView({block: 'start'});",
            found[0],
        )
        target = TAKEN / guide.screenshot(index)
        browser.save_screenshot(str(target))
        width, _height = png_size(target)
        assert width == 360 or width == 720, (target, width)  # device pixels: 1x or 2x
        kept = CAPTURES / guide.screenshot(index)
        if os.environ.get("PREAU_UPDATE_GUIDES") == "1":
            shutil.copyfile(target, kept)
        assert kept.is_file(), f"{kept.name}: missing; ./dev captures takes it"
        assert png_size(kept)[0] == width, f"{kept.name}: ./dev captures takes it again"
    assert not missing, "\n".join(missing)
    # The guide shows its captures, and they are served.
    for guide in guides.GUIDES:
        browser.get(f"{running.base_url}/aide/guide/{guide.slug}")
        shown = browser.find_elements(By.CSS_SELECTOR, "#steps img")
        expected = [i for i, step in enumerate(guide.steps) if step.page]
        assert len(shown) == len(expected), guide.slug
        for image in shown:
            loaded = browser.execute_script("return arguments[0].naturalWidth;", image)
            assert loaded in (360, 720), image.get_attribute("src")
