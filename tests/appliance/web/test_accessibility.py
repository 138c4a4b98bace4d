"""RGAA / WCAG 2 AA on the admin pages, by axe-core in a real Chromium (#16: « keep that »).

axe-core (npm's, pinned by ``./dev test``) runs on each role's pages of the
demo school, at a phone's 360 px and a desktop's 1280 px: every page of the
menu, the help, the settings, the second factor's and the tokens' pages.
Any WCAG 2 A or AA violation fails the test, with the rule and the element.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest
from selenium.webdriver.common.by import By

from tests.appliance.web.test_phone_layout import log_in, passwords
from tests.conftest import REPO, PreauProcess, make_config

pytestmark = pytest.mark.timeout(600)
AXE: Final = REPO / ".venv" / "share" / "axe-core" / "axe.min.js"
EXTRA: Final = {
    "referent": (
        "/compte/double-authentification",
        "/compte/jetons",
        "/aide/guide/premiere-semaine",
    ),
    "prof.durand": ("/aide/guide/couper-internet",),
    "l.bernard": (),
}
# WCAG 2.0 and 2.1, levels A and AA: what RGAA 4 asks.
_RUN: Final = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
  .then((result) => done(result.violations.map((v) =>
    `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`)))
  .catch((error) => done([`axe failed: ${error}`]));
"""


def test_every_page_has_no_wcag_aa_violation_at_both_widths(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    assert AXE.is_file(), "./dev test installs axe-core"
    engine = AXE.read_text(encoding="utf-8")
    running = preau_factory(make_config(tmp_path / "data", web={"clock": "host"}))
    known = passwords(running.config_path)
    browser.set_script_timeout(60)
    found: list[str] = []
    checked = 0
    for login, extra in EXTRA.items():
        log_in(browser, running.base_url, login, known[login])
        menu = browser.find_element(By.ID, "menu")
        paths = [
            link.get_attribute("pathname")
            for link in menu.find_elements(By.CSS_SELECTOR, "a[href^='/']")
        ]
        for width in (360, 1280):
            browser.set_window_size(width, 900)
            for path in [*dict.fromkeys(paths), *extra]:
                browser.get(f"{running.base_url}{path}")
                browser.execute_script(engine)
                violations = browser.execute_async_script(_RUN)
                found += [f"{login} {path} at {width} px: {v}" for v in violations]
                checked += 1
    assert checked >= 40
    assert not found, "\n".join(found)
    # The engine does see faults: an image without a text alternative is one.
    browser.execute_script(
        "const i = document.createElement('img'); i.src = '/static/favicon.svg';"
        " document.querySelector('main').append(i);"
    )
    browser.execute_script(engine)
    assert any(v.startswith("image-alt") for v in browser.execute_async_script(_RUN))
