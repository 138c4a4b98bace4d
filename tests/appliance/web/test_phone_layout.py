"""Every page at 360 px in a real Chromium: nothing overflows, no word is cut (#16 scope 5).

Each demo role logs in on a 360 px wide window and opens every page of its
menu, and a missing page. On each: the page never scrolls sideways, no card
or tile scrolls sideways inside, no word of a table cell is split over two
lines (the cell is at least as wide as its longest word), and no raw
identifier is shown as text (#16 scope 4: only code, and what people named
themselves, marked ``translate="no"``, may show one). Screenshots
are kept in ``build/screenshots/phone-360`` (the help's tutorials use them).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import REPO, PreauProcess, make_config, run_preau

SHOTS = REPO / "build" / "screenshots" / "phone-360"
# Pages reached from another page rather than from the menu.
NOT_IN_MENU = {
    "referent": (
        "/compte/double-authentification",
        "/compte/jetons",
        "/aide/guide/premiere-semaine",
    ),
    "l.bernard": ("/aide/guide/mes-fichiers",),
}
pytestmark = pytest.mark.timeout(420)

# What is wrong with the page in view, as a list of sentences (empty: all is well).
_FAULTS = r"""
const faults = [];
const root = document.documentElement;
if (root.scrollWidth > window.innerWidth + 1) {
  faults.push(`the page is ${root.scrollWidth} px wide`);
}
for (const box of document.querySelectorAll(".card, .tile, header.top")) {
  if (box.scrollWidth > box.clientWidth + 1) {
    const name = box.querySelector("h1, h2, h3")?.textContent.trim() || box.className;
    faults.push(`"${name}" is ${box.scrollWidth} px wide inside ${box.clientWidth} px`);
  }
}
for (const cell of document.querySelectorAll("th, td")) {
  if (cell.getBoundingClientRect().width <= 1) continue;  // visually hidden (a phone's thead)
  const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const words = /[^\s\-\/]+/g;
    let match;
    while ((match = words.exec(node.textContent))) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0)
                             .map((r) => Math.round(r.top)));
      if (lines.size > 1) faults.push(`"${match[0]}" is cut in a table cell`);
    }
  }
}
// A raw identifier shown as text (« service.cache », « social_networks ») rather than
// its name in words: only code (a config key, an app's package) may show one.
const shown = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (shown.nextNode()) {
  const node = shown.currentNode;
  // Code, and people's own words and file names (marked translate="no"), may show anything.
  if (node.parentElement.closest("code, pre, script, style, textarea, [translate=no]")) continue;
  for (const raw of node.textContent.match(/\b[a-z][a-z0-9]*(?:[._][a-z0-9]+)+\b/g) || []) {
    faults.push(`the raw identifier "${raw}" is shown`);
  }
}
return faults;
"""


def passwords(config_path: Path) -> dict[str, str]:
    """Seed the demo school; return each login's password."""
    result = run_preau("demo", config_path=config_path)
    assert result.returncode == 0, result.stderr
    found = re.findall(r"^(\S+)\s+\S+\s+\S+\s+(\S+-\S+-\S+)$", result.stdout, re.M)
    return dict(found)


def log_in(browser: Any, base: str, login: str, password: str) -> None:
    """Open a fresh session for ``login`` through the login form."""
    browser.delete_all_cookies()
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "login").send_keys(login)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    WebDriverWait(browser, 15).until(lambda b: "/login" not in b.current_url)


def test_every_page_of_every_role_fits_a_360_px_phone(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    running = preau_factory(make_config(tmp_path / "data"))
    known = passwords(running.config_path)
    browser.set_window_size(360, 800)
    SHOTS.mkdir(parents=True, exist_ok=True)
    faults: list[str] = []
    opened = 0
    for login in ("referent", "prof.durand", "vie.scolaire", "l.bernard"):
        log_in(browser, running.base_url, login, known[login])
        # The menu is folded behind its button on a phone, and opens with a tap.
        menu = browser.find_element(By.ID, "menu")
        toggle = browser.find_element(By.CSS_SELECTOR, "button.menu-toggle")
        assert toggle.is_displayed()
        assert toggle.get_attribute("aria-expanded") == "false"
        assert not menu.is_displayed()
        toggle.click()
        WebDriverWait(browser, 5).until(expected_conditions.visibility_of(menu))
        assert toggle.get_attribute("aria-expanded") == "true"
        paths = [
            link.get_attribute("pathname")
            for link in menu.find_elements(By.CSS_SELECTOR, "a[href^='/']")
        ]
        assert len(paths) >= 3, paths
        for path in [*paths, *NOT_IN_MENU.get(login, ()), "/nulle-part"]:
            browser.get(f"{running.base_url}{path}")
            opened += 1
            found = browser.execute_script(_FAULTS)
            faults += [f"{login} {path}: {fault}" for fault in found]
            slug = path.strip("/").replace("/", "-") or "accueil"
            browser.save_screenshot(str(SHOTS / f"{login}-{slug}.png"))
    assert opened >= 25
    assert not faults, "\n".join(faults)
    # A missing page is a page of the UI, in French, with a way back.
    browser.get(f"{running.base_url}/nulle-part")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page introuvable"
    assert browser.find_element(By.LINK_TEXT, "Retour à l'accueil")
    # …with the box's icon, from the box itself.
    icon = browser.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
    assert icon == f"{running.base_url}/static/favicon.svg"
