"""The admin UI in a real headless Chromium (Debian's), as a referent uses it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from appliance.services import enabled_service_names
from tests.appliance.test_core import healthy_services, seed_referent, wait_until
from tests.conftest import REPO, PreauProcess, make_config

SCREENSHOTS = REPO / "build" / "screenshots"

pytestmark = pytest.mark.timeout(120)


def page_wait(browser: Any, seconds: float = 15) -> WebDriverWait[Any]:
    """Wait on the page, asking again when it was replaced meanwhile (a form's answer loading)."""
    # A form's answer replaces the document while the condition reads it: Chromium then says
    # "stale element" or, mid-swap, "Node with given id does not belong to the document" (a plain
    # WebDriverException). Both mean "ask again"; a condition that never holds still times out.
    return WebDriverWait(
        browser, seconds, ignored_exceptions=(StaleElementReferenceException, WebDriverException)
    )


def menu_link(browser: Any, text: str) -> Any:
    """Return a link of the menu, opening the menu first where a phone folds it (#16)."""
    toggle = browser.find_elements(By.CSS_SELECTOR, "button.menu-toggle")
    if toggle and toggle[0].is_displayed() and toggle[0].get_attribute("aria-expanded") == "false":
        toggle[0].click()
    return browser.find_element(By.LINK_TEXT, text)


def log_out(browser: Any) -> None:
    """Tap « Se déconnecter », in the menu a phone folds."""
    menu_link(browser, "Mon compte")  # opens the menu if folded
    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()


def log_in(browser: Any, base: str, login: str, password: str) -> None:
    """Fill and send the login form."""
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "login").send_keys(login)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()


def test_referent_logs_in_and_sees_dashboard(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    config = make_config(tmp_path / "data")
    running = preau_factory(config)
    password = seed_referent(running.config_path)
    wait_until(lambda: healthy_services(config) == set(enabled_service_names(config)))

    browser.get(f"{running.base_url}/")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert browser.find_element(By.TAG_NAME, "h1").text == "Connexion"

    log_in(browser, running.base_url, "referent", password)
    page_wait(browser).until(expected_conditions.url_contains("/dashboard"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#services tbody tr")
    statuses = {row.get_attribute("data-service"): row.get_attribute("data-status") for row in rows}
    assert statuses == dict.fromkeys(enabled_service_names(config), "ok")
    assert "Fonctionne" in browser.find_element(By.ID, "services").text
    # French units and decimal comma: « 4 % (894,5 Mo / 25,3 Go) » (#16).
    assert re.fullmatch(
        r"\d+ % \([\d,]+\s[kMGT]?o / [\d,]+\s[kMGT]?o\)", browser.find_element(By.ID, "memory").text
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "dashboard-phone.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # English is one click away, and sticks.
    browser.find_element(By.LINK_TEXT, "English").click()
    page_wait(browser, 10).until(lambda b: b.find_element(By.TAG_NAME, "h1").text == "Dashboard")
    browser.get(f"{running.base_url}/directory")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Directory"


def test_wrong_password_shows_an_accessible_error(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    config = make_config(tmp_path / "data")
    running = preau_factory(config)
    seed_referent(running.config_path)
    log_in(browser, running.base_url, "referent", "not the password")
    alert = page_wait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "[role=alert]"))
    )
    assert alert.text == "Identifiant ou mot de passe incorrect."
    field = browser.find_element(By.ID, "login")
    assert field.get_attribute("aria-describedby") == "login-error"
    assert field.get_attribute("value") == "referent"


def test_pupil_sees_own_account_not_admin(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    from tests.conftest import run_preau

    config = make_config(tmp_path / "data")
    running = preau_factory(config)
    result = run_preau("demo", config_path=running.config_path)
    line = next(line for line in result.stdout.splitlines() if line.startswith("l.bernard"))
    log_in(browser, running.base_url, "l.bernard", line.split()[-1])
    # A pupil lands on their files (#16 scope 7); their account says who they are.
    page_wait(browser).until(expected_conditions.url_contains("/fichiers"))
    browser.get(f"{running.base_url}/account")
    assert browser.find_element(By.ID, "person-role").get_attribute("data-role") == "pupil"
    assert not browser.find_elements(By.LINK_TEXT, "Tableau de bord")
    browser.get(f"{running.base_url}/settings")
    assert browser.current_url.endswith("/account")


def test_referent_prints_guest_codes_from_a_phone(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    config = make_config(tmp_path / "data")
    running = preau_factory(config)
    password = seed_referent(running.config_path)
    log_in(browser, running.base_url, "referent", password)
    page_wait(browser).until(expected_conditions.url_contains("/dashboard"))
    menu_link(browser, "Wi-Fi invité·es").click()
    page_wait(browser, 10).until(expected_conditions.url_contains("/portal"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Portail Wi-Fi (appareils personnels)"
    assert browser.find_element(By.ID, "charter-version").text == "2026-09"
    # Nothing overflows the phone's width (tables scroll inside their own box).
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    count = browser.find_element(By.ID, "count")
    count.clear()
    count.send_keys("3")
    browser.find_element(By.ID, "label").send_keys("Conseil d'école")
    browser.find_element(By.CSS_SELECTOR, "form[action='/portal/vouchers'] button").click()
    codes = page_wait(browser, 10).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#voucher-codes .code")
    )
    assert len(codes) == 3
    assert all(len(code.text) == 11 for code in codes)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "portal-vouchers-phone.png"))


def test_a_pupil_uploads_from_a_phone_and_the_antivirus_stops_eicar(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any, clamd: Any
) -> None:
    from tests.conftest import EICAR, run_preau

    config = make_config(
        tmp_path / "data",
        productions={"antivirus": {"enabled": True, "clamd_socket": str(clamd.socket)}},
    )
    running = preau_factory(config)
    result = run_preau("demo", config_path=running.config_path)
    line = next(line for line in result.stdout.splitlines() if line.startswith("l.bernard"))
    log_in(browser, running.base_url, "l.bernard", line.split()[-1])
    # A pupil lands on their files; the first visit shows PERSONNEL's recovery code, once.
    page_wait(browser).until(expected_conditions.url_contains("/fichiers"))
    assert len(browser.find_element(By.CSS_SELECTOR, "#recovery code").text) == 35
    homework = tmp_path / "rédaction.txt"
    homework.write_text("Il était une fois…")
    virus = tmp_path / "jeu.com"
    virus.write_bytes(EICAR)
    for tab in ("Espace pédagogique", "PERSONNEL"):
        browser.find_element(By.LINK_TEXT, tab).click()
        page_wait(browser, 10).until(
            lambda b, tab=tab: (
                b.find_element(By.CSS_SELECTOR, ".tabs [aria-current=page]").text == tab
            )
        )
        browser.find_element(By.ID, "files").send_keys(str(homework))
        browser.find_element(By.CSS_SELECTOR, "#upload-form button").click()
        message = page_wait(browser).until(lambda b: b.find_element(By.ID, "message"))
        assert message.text == "1 fichier(s) enregistré(s)."
        assert "rédaction.txt" in browser.find_element(By.ID, "entries").text
        browser.find_element(By.ID, "files").send_keys(str(virus))
        browser.find_element(By.CSS_SELECTOR, "#upload-form button").click()
        page_wait(browser).until(expected_conditions.url_contains("message=infected"))
        assert "antivirus" in browser.find_element(By.ID, "message").text
        assert "jeu.com" not in browser.find_element(By.ID, "entries").text
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "files-phone.png"))


def test_a_teacher_hands_out_and_collects_work_from_a_phone(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    from tests.conftest import run_preau

    config = make_config(tmp_path / "data")
    running = preau_factory(config)
    result = run_preau("demo", config_path=running.config_path)
    passwords = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines() if line}
    handout = tmp_path / "chapitre-1.pdf"
    handout.write_bytes(b"%PDF-1.4 cours")
    copy = tmp_path / "ma-copie.odt"
    copy.write_bytes(b"ma copie")

    log_in(browser, running.base_url, "prof.durand", passwords["prof.durand"])
    page_wait(browser).until(expected_conditions.url_contains("/internet"))
    browser.get(f"{running.base_url}/classe?classe=6A")
    browser.find_element(By.ID, "documents-files").send_keys(str(handout))
    browser.find_element(By.CSS_SELECTOR, "form[enctype] button").click()
    page_wait(browser).until(lambda b: "1 fichier" in b.find_element(By.ID, "message").text)
    browser.find_element(By.ID, "titre").send_keys("Rédaction")
    browser.find_element(By.CSS_SELECTOR, "form[action='/classe/devoir'] button").click()
    page_wait(browser).until(lambda b: "Rédaction" in b.find_element(By.ID, "assignments").text)
    log_out(browser)

    log_in(browser, running.base_url, "l.bernard", passwords["l.bernard"])
    page_wait(browser).until(expected_conditions.url_contains("/fichiers"))
    menu_link(browser, "Ma classe").click()
    page_wait(browser, 10).until(expected_conditions.url_contains("/classe"))
    assert "chapitre-1.pdf" in browser.find_element(By.ID, "documents").text
    assert not browser.find_elements(By.ID, "documents-files")  # pupils do not hand out
    browser.find_element(By.CSS_SELECTOR, "#assignments input[type=file]").send_keys(str(copy))
    browser.find_element(By.CSS_SELECTOR, "#assignments button").click()
    page_wait(browser).until(expected_conditions.url_contains("message=stored"))
    assert "ma-copie.odt" in browser.find_element(By.ID, "assignments").text
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    log_out(browser)

    log_in(browser, running.base_url, "prof.durand", passwords["prof.durand"])
    page_wait(browser).until(expected_conditions.url_contains("/internet"))
    browser.get(f"{running.base_url}/classe?classe=6A")
    work = browser.find_element(By.ID, "assignments")
    # Names, not logins; who has and has not handed in; the work one tap away (#9.17).
    assert "1 sur 10 ont rendu" in work.text
    assert "l.bernard" not in work.text
    link = work.find_element(By.LINK_TEXT, "ma-copie.odt")
    assert "/rendus/l.bernard/file?path=ma-copie.odt" in str(link.get_attribute("href"))
    # This assignment's roster (the demo school has one of its own, handed in by four).
    roster = ".//ul[@class='roster'][ancestor::li[contains(., 'Rédaction')]]"
    missing = work.find_elements(By.XPATH, roster + "/li[contains(., 'pas encore')]")
    assert len(missing) == 9


def test_the_referent_reads_the_cache_page_and_adds_an_app_from_a_phone(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    """Issue #6 scope 5 and 8: the cache's figures and the store, usable at phone width."""
    config = make_config(tmp_path / "data")
    running = preau_factory(config)
    password = seed_referent(running.config_path)
    log_in(browser, running.base_url, "referent", password)
    page_wait(browser).until(expected_conditions.url_contains("/dashboard"))
    menu_link(browser, "Cache des mises à jour").click()
    page_wait(browser, 10).until(expected_conditions.url_contains("/cache"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Cache des mises à jour"
    assert browser.find_element(By.CSS_SELECTOR, "svg.chart").get_attribute("role") == "img"
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    browser.find_element(By.ID, "plan").send_keys("chariot-ipad")
    browser.find_element(By.ID, "urls").send_keys("http://dl.google.com/chromeos/u.bin")
    browser.find_element(By.CSS_SELECTOR, "form[action='/cache/prestage'] button").click()
    # Read the page only once the post has redirected (the old page would go stale).
    page_wait(browser, 10).until(expected_conditions.url_contains("message=saved"))
    assert "chariot-ipad" in browser.find_element(By.ID, "cache-plans").text
    # An app uploaded from the phone's file picker, then assigned to the school.
    package = tmp_path / "outil.msi"
    package.write_bytes(b"MSI" + bytes(4000))
    menu_link(browser, "Applications de l'établissement").click()
    page_wait(browser, 10).until(expected_conditions.url_contains("/applis/gestion"))
    browser.find_element(By.ID, "platform").send_keys("Windows")
    browser.find_element(By.ID, "name").send_keys("Outil de géométrie")
    browser.find_element(By.ID, "package_id").send_keys("fr.college.geometrie")
    browser.find_element(By.ID, "version_name").send_keys("3.0")
    browser.find_element(By.ID, "package").send_keys(str(package))
    browser.find_element(By.CSS_SELECTOR, "form[enctype='multipart/form-data'] button").click()
    page_wait(browser, 10).until(expected_conditions.url_contains("message=stored"))
    assert "Application enregistrée" in browser.find_element(By.TAG_NAME, "main").text
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "apps-admin-phone.png"))


def test_a_teacher_cuts_the_class_internet_in_one_tap_from_a_phone(
    tmp_path: Path, preau_factory: Callable[..., PreauProcess], browser: Any
) -> None:
    """Issue #13 scope 4 (CARMO #9.2, #9.21): 360 px, lands on the class, one tap each."""
    from tests.conftest import run_preau

    # One créneau all day, every day: the control lasts, whatever the hour the suite runs at.
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    scheduler = {"school_days": every_day, "periods": [{"name": "J", "hours": "00:00-23:59"}]}
    config = make_config(tmp_path / "data", scheduler=scheduler)
    running = preau_factory(config)
    result = run_preau("demo", config_path=running.config_path)
    passwords = {line.split()[0]: line.split()[-1] for line in result.stdout.splitlines() if line}
    browser.set_window_size(360, 800)
    # The countdown counts with the page's monotonic clock: the test moves it.
    browser.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {"source": "(function () { var real = performance.now.bind(performance);"
                   " window.skew = 0; performance.now = function () {"
                   " return real() + window.skew * 1000; }; })();"},
    )  # fmt: skip
    log_in(browser, running.base_url, "prof.benali", passwords["prof.benali"])
    page_wait(browser).until(expected_conditions.url_contains("/internet"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Internet de la classe — 5B"
    assert menu_link(browser, "Internet de la classe")  # in the menu too
    assert "Internet normal" in browser.find_element(By.ID, "controls").text
    browser.find_element(By.XPATH, "//button[normalize-space()='Couper Internet']").click()
    page_wait(browser).until(expected_conditions.url_contains("message=applied"))
    now = browser.find_element(By.ID, "controls").text
    assert "Couper internet" in now
    assert "jusqu'à" in now
    width = browser.execute_script("return document.documentElement.scrollWidth")
    assert width <= browser.execute_script("return window.innerWidth")
    buttons = browser.find_elements(By.CSS_SELECTOR, ".taps button")
    assert all(b.size["height"] >= 56 for b in buttons)  # a thumb, in class, in a hurry
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SCREENSHOTS / "class-internet-phone.png"))
    # The countdown: minutes left move, the warning shows under 5 minutes, and
    # the page reloads itself when the control ends.
    # The page's clock is moved (window.skew, seconds, may be negative): 15½ minutes left,
    # then 200 seconds left.
    left = browser.find_element(By.CSS_SELECTOR, "#controls .left")
    seconds = int(left.get_attribute("data-seconds-left"))
    soon = browser.find_element(By.CSS_SELECTOR, "#controls .soon")
    browser.execute_script(f"window.skew = {seconds - 930};")
    page_wait(browser, 10).until(lambda b: left.text == "15")
    assert not soon.is_displayed()
    browser.execute_script(f"window.skew = {seconds - 200}; window.stayed = true;")
    page_wait(browser, 10).until(lambda b: left.text == "3")
    assert soon.is_displayed()
    assert "moins de 5 minutes" in soon.text
    browser.execute_script(f"window.skew = {seconds + 1};")
    page_wait(browser, 10).until(lambda b: b.execute_script("return !window.stayed"))
    assert (
        "Couper internet" in browser.find_element(By.ID, "controls").text
    )  # still on, server-side
    browser.find_element(By.XPATH, "//button[normalize-space()='Rétablir']").click()
    page_wait(browser).until(expected_conditions.url_contains("message=restored"))
    assert "Internet normal" in browser.find_element(By.ID, "controls").text
    # 6A is not this teacher's: the page offers only 5B, and a forged post is refused.
    browser.get(f"{running.base_url}/internet?classe=6A")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Internet de la classe — 5B"
