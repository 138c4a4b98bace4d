"""Two-factor login, recovery codes, the console reset, scoped API tokens (#16 scope 9, ASVS V6).

Codes are computed from the secret the page shows, as an authenticator app
would; the clock check is the app's own object, told what the kernel says.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity import second_factor as rules
from appliance.identity.second_factor_state import SecondFactors, kernel_clock_synchronised
from appliance.web.app import create_app
from appliance.web.keys import API_TOKENS_KEY, CLOCK_KEY
from appliance.web.second_factor_login import ClockCheck
from tests.appliance.web.conftest import PASSWORDS, ClientFactory, login_as, seed_local_people
from tests.conftest import make_config, opened_core, run_preau, write_config

SETUP = "/compte/double-authentification"


def trust_clock(client: TestClient[Any, Any], synchronised: bool = True) -> None:
    """Say the clock is (or is not) synchronised, whatever this machine's kernel says."""
    client.app[CLOCK_KEY].probe = lambda: synchronised


async def form_token(client: TestClient[Any, Any], path: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', await (await client.get(path)).text())
    assert match is not None, path
    return match.group(1)


async def form_login(client: TestClient[Any, Any], login: str) -> Any:
    """Log in through the form; return the answer (not followed)."""
    client.session.cookie_jar.clear()
    token = await form_token(client, "/login")
    form = {"login": login, "password": PASSWORDS[login], "csrf_token": token}
    return await client.post("/login", data=form, allow_redirects=False)


async def give_code(client: TestClient[Any, Any], code: str) -> Any:
    token = await form_token(client, "/login/code")
    form = {"code": code, "csrf_token": token}
    return await client.post("/login/code", data=form, allow_redirects=False)


async def enrol(client: TestClient[Any, Any], login: str = "referent") -> tuple[str, list[str]]:
    """Set up the second factor through the pages; return the secret and the recovery codes."""
    assert (await form_login(client, login)).status == 303
    token = await form_token(client, SETUP)
    shown = await (await client.post(SETUP + "/debut", data={"csrf_token": token})).text()
    assert "<svg" in shown  # the QR code, drawn on the box
    match = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', shown)
    assert match is not None
    secret = match.group(1).replace(" ", "")
    code = rules.code_at(secret, time.time())
    answer = await client.post(SETUP + "/confirmer", data={"csrf_token": token, "code": code})
    assert answer.status == 200
    codes = re.findall(r"<li><code>([A-Z0-9-]+)</code></li>", await answer.text())
    return secret, codes


async def test_setting_up_needs_a_verified_first_code(
    client: TestClient[Any, Any], core: Core
) -> None:
    trust_clock(client)
    assert (await form_login(client, "referent")).status == 303
    token = await form_token(client, SETUP)
    page = await (await client.post(SETUP + "/debut", data={"csrf_token": token})).text()
    assert 'id="secret"' in page
    assert "otpauth" not in page
    wrong = await client.post(SETUP + "/confirmer", data={"csrf_token": token, "code": "000000"})
    assert wrong.status == 400
    assert "ne correspond pas" in await wrong.text()
    # Not confirmed: the password alone still logs in.
    assert (await form_login(client, "referent")).headers["Location"] == "/dashboard"
    _secret, codes = await enrol(client)
    assert len(codes) == 10
    assert len(set(codes)) == 10
    stored = await core.db.fetchall("SELECT code_hash FROM second_factor_recovery")
    assert len(stored) == 10
    assert all(row["code_hash"].startswith("$argon2id$") for row in stored)
    assert not any(code.replace("-", "") in row["code_hash"] for code in codes for row in stored)
    assert (await core.audit.recent(1))[0]["action"] == "second_factor.enable"


async def test_login_asks_for_the_code_and_refuses_a_replay(
    client: TestClient[Any, Any], core: Core
) -> None:
    trust_clock(client)
    secret, _codes = await enrol(client)
    first = await form_login(client, "referent")
    assert first.headers["Location"] == "/login/code"
    assert (await client.get("/dashboard", allow_redirects=False)).status == 303  # no session yet
    assert (await give_code(client, "123456")).status == 401
    # Past the enrolment's own step: a code for the next step is due.
    code = rules.code_at(secret, time.time() + 30)
    done = await give_code(client, code)
    assert done.status == 303
    assert done.headers["Location"] == "/dashboard"
    assert (await client.get("/dashboard")).status == 200
    entry = (await core.audit.recent(1))[0]
    assert entry["action"] == "login"
    assert "second_factor=totp" in entry["detail"]
    # The same code again, from a new login: refused.
    assert (await form_login(client, "referent")).headers["Location"] == "/login/code"
    assert (await give_code(client, code)).status == 401


async def test_recovery_codes_work_once_and_without_a_synchronised_clock(
    client: TestClient[Any, Any],
) -> None:
    trust_clock(client)
    secret, codes = await enrol(client)
    trust_clock(client, synchronised=False)
    await form_login(client, "referent")
    refused = await give_code(client, rules.code_at(secret, time.time() + 30))
    assert refused.status == 503
    assert "horloge" in await refused.text()
    typed = codes[0].lower().replace("-", " ")  # as copied from paper
    assert (await give_code(client, typed)).headers["Location"] == "/dashboard"
    api = await client.post(
        "/api/v1/session",
        json={"login": "referent", "password": PASSWORDS["referent"], "code": codes[0]},
    )
    assert api.status == 401
    assert (await api.json())["error"]["code"] == "bad_code"
    state = await (await client.get("/api/v1/second-factor")).json()
    assert state["active"]
    assert state["recovery_codes_left"] == 9


async def test_the_api_login_takes_the_code_in_the_same_call(
    client: TestClient[Any, Any],
) -> None:
    trust_clock(client)
    secret, _codes = await enrol(client)
    client.session.cookie_jar.clear()
    body = {"login": "referent", "password": PASSWORDS["referent"]}
    asked = await client.post("/api/v1/session", json=body)
    assert asked.status == 401
    assert (await asked.json())["error"]["code"] == "second_factor_required"
    assert (await client.get("/api/v1/health")).status == 401
    code = rules.code_at(secret, time.time() + 30)
    opened = await client.post("/api/v1/session", json=body | {"code": code})
    assert opened.status == 200
    state = await (await client.get("/api/v1/second-factor")).json()
    assert state["this_session"] == "totp"


async def test_five_wrong_codes_end_the_waiting_login(client: TestClient[Any, Any]) -> None:
    trust_clock(client)
    secret, _codes = await enrol(client)
    await form_login(client, "referent")
    for _ in range(4):
        assert (await give_code(client, "000000")).status == 401
    given_up = await give_code(client, "000000")
    assert given_up.status == 401
    assert "Connexion expirée" in await given_up.text()
    # Even the right code no longer opens that login.
    late = await client.post(
        "/login/code",
        data={"code": rules.code_at(secret, time.time() + 30), "csrf_token": "x"},
        allow_redirects=False,
    )
    assert late.status in (401, 403)
    assert (await client.get("/dashboard", allow_redirects=False)).status == 303


async def test_a_required_second_factor_fences_the_referent_in(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    config = make_config(tmp_path / "data", web={"second_factor_required": True})
    async with opened_core(config) as core:
        await seed_local_people(core)
        client = await aiohttp_client(create_app(core))
        trust_clock(client)
        assert (await form_login(client, "referent")).status == 303
        fenced = await client.get("/dashboard", allow_redirects=False)
        assert fenced.headers["Location"] == SETUP
        api = await client.get("/api/v1/health")
        assert api.status == 403
        assert (await api.json())["error"]["code"] == "second_factor_required"
        page = await (await client.get(SETUP)).text()
        assert "impose la double authentification" in page
        await enrol(client)
        assert (await client.get("/dashboard")).status == 200
        # Required: it cannot be turned off from the page.
        token = await form_token(client, SETUP)
        off = await client.post(
            SETUP + "/desactiver", data={"csrf_token": token, "password": PASSWORDS["referent"]}
        )
        assert off.status == 403
        # A teacher is not fenced.
        assert (await form_login(client, "prof")).headers["Location"] == "/internet"
        # A token made before the requirement stands for its owner: fenced while the
        # owner has no second factor, open once they have one.
        token, _row = await client.app[API_TOKENS_KEY].issue(
            name="ancien script", person_id="referent", role="referent", scope="read", days=9
        )
        await core.db.execute_write("DELETE FROM second_factors")
        client.session.cookie_jar.clear()
        bearer = {"Authorization": f"Bearer {token}"}
        fenced_token = await client.get("/api/v1/health", headers=bearer)
        assert fenced_token.status == 403
        assert (await fenced_token.json())["error"]["code"] == "second_factor_required"


async def test_scoped_tokens_open_the_api_but_never_the_accounts(
    client: TestClient[Any, Any], core: Core
) -> None:
    csrf = await login_as(client, "referent")
    headers = {"X-CSRF-Token": csrf}
    issued = {}
    for scope in ("read", "write"):
        answer = await client.post(
            "/api/v1/tokens", json={"name": f"script {scope}", "scope": scope}, headers=headers
        )
        assert answer.status == 201, await answer.text()
        issued[scope] = (await answer.json())["token"]
    await client.delete("/api/v1/session")
    client.session.cookie_jar.clear()
    read = {"Authorization": f"Bearer {issued['read']}"}
    write = {"Authorization": f"Bearer {issued['write']}"}
    assert (await client.get("/api/v1/health", headers=read)).status == 200
    day = {"day": "2031-05-02", "reason": "pont"}
    refused = await client.post("/api/v1/calendar/closed-days", json=day, headers=read)
    assert refused.status == 403
    assert (await refused.json())["error"]["code"] == "token_scope"
    # A write token needs no CSRF token: a browser never attaches it.
    assert (
        await client.post("/api/v1/calendar/closed-days", json=day, headers=write)
    ).status == 201
    for method, path in (
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("GET", "/api/v1/sessions"),
        ("GET", "/api/v1/second-factor"),
        ("DELETE", "/api/v1/session"),
    ):
        answer = await client.request(method, path, headers=write, json={})
        assert answer.status == 403, path
        assert (await answer.json())["error"]["code"] == "token_scope"
    # Pages are for people: a token opens none.
    page = await client.get("/dashboard", headers=write, allow_redirects=False)
    assert page.status == 303
    assert (
        await client.get("/api/v1/health", headers={"Authorization": "Bearer preau_x"})
    ).status == 401
    stored = await core.db.fetchall("SELECT token_hash FROM api_tokens")
    assert all(issued[s] not in row["token_hash"] for s in issued for row in stored)
    # Revoked with the person's sessions (a departure, a withdrawn delegation).
    csrf = await login_as(client, "referent")
    ended = await client.delete("/api/v1/sessions/referent", headers={"X-CSRF-Token": csrf})
    assert ended.status == 200
    assert (await client.get("/api/v1/health", headers=read)).status == 401


async def test_a_session_that_skipped_the_second_factor_issues_no_token(
    client: TestClient[Any, Any], core: Core
) -> None:
    csrf = await login_as(client, "referent")
    factors = SecondFactors(core.db, core.executor)
    secret = await factors.begin("referent")
    assert await factors.confirm("referent", rules.code_at(secret, time.time()), time.time())
    # This session opened before the factor existed: it proved nothing.
    answer = await client.post(
        "/api/v1/tokens", json={"name": "mdm", "scope": "read"}, headers={"X-CSRF-Token": csrf}
    )
    assert answer.status == 403
    assert (await answer.json())["error"]["code"] == "second_factor_required"


async def test_the_console_resets_a_lost_second_factor(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    async with opened_core(config) as core:
        await seed_local_people(core)
        factors = SecondFactors(core.db, core.executor)
        secret = await factors.begin("referent")
        await factors.confirm("referent", rules.code_at(secret, time.time()), time.time())
    path = write_config(config, tmp_path / "preau.toml")
    unknown = run_preau("user", "second-factor-reset", "nobody", config_path=path)
    assert unknown.returncode == 2
    assert "personne inconnue" in unknown.stderr
    done = run_preau("user", "second-factor-reset", "referent", config_path=path)
    assert done.returncode == 0, done.stderr
    assert "désactivée" in done.stdout
    async with opened_core(config) as core:
        assert not await SecondFactors(core.db, core.executor).active("referent")
        entry = (await core.audit.recent(1))[0]
        assert (entry["actor"], entry["action"], entry["target"]) == (
            "console", "second_factor.reset", "referent",
        )  # fmt: skip


def test_the_clock_is_trusted_only_when_ntp_or_the_host_keeps_it() -> None:
    assert ClockCheck("ntp", probe=lambda: False).synchronised() is False
    assert ClockCheck("ntp", probe=lambda: True).synchronised() is True
    assert ClockCheck("host", probe=lambda: False).synchronised() is True
    # The real probe reads adjtimex(2) without privilege, and answers.
    assert isinstance(kernel_clock_synchronised(), bool)


async def test_the_dashboard_names_referents_without_a_second_factor(
    client: TestClient[Any, Any],
) -> None:
    trust_clock(client)
    await login_as(client, "referent")
    page = await (await client.get("/dashboard")).text()
    assert "sans double authentification (connectés ces 30 derniers jours) : 1." in page
    assert 'href="/compte/double-authentification"' in page
    await enrol(client)
    page = await (await client.get("/dashboard")).text()
    assert "sans double authentification" not in page


async def test_a_right_password_does_not_reset_the_count_of_wrong_codes(
    client: TestClient[Any, Any],
) -> None:
    trust_clock(client)
    secret, _codes = await enrol(client)
    await form_login(client, "referent")
    for _ in range(4):
        assert (await give_code(client, "000000")).status == 401
    # The password again, then one more wrong code: five failures, delays begin.
    assert (await form_login(client, "referent")).headers["Location"] == "/login/code"
    assert (await give_code(client, "000000")).status == 401
    late = await give_code(client, rules.code_at(secret, time.time() + 30))
    assert late.status == 429
    assert "Trop de tentatives" in await late.text()


async def test_tokens_are_made_shown_once_and_revoked_from_the_page(
    client: TestClient[Any, Any],
) -> None:
    await form_login(client, "referent")
    token = await form_token(client, "/compte/jetons")
    bad = await client.post(
        "/compte/jetons", data={"csrf_token": token, "name": "", "scope": "read", "days": "9"}
    )
    assert bad.status == 400
    assert "Nom : écrivez quelques mots." in await bad.text()
    made = await client.post(
        "/compte/jetons",
        data={"csrf_token": token, "name": "Inventaire", "scope": "read", "days": "30"},
    )
    shown = re.search(r'<code id="new-token">(preau_[\w-]+)</code>', await made.text())
    assert shown is not None
    listing = await (await client.get("/compte/jetons")).text()
    assert "Inventaire" in listing
    assert "lecture seule" in listing
    assert shown.group(1) not in listing
    bearer = {"Authorization": f"Bearer {shown.group(1)}"}
    jar = client.session.cookie_jar
    revoke = re.search(r'action="(/compte/jetons/[0-9a-f]+/revoquer)"', listing)
    assert revoke is not None
    cookies = list(jar)
    jar.clear()
    assert (await client.get("/api/v1/health", headers=bearer)).status == 200
    for cookie in cookies:
        jar.update_cookies({cookie.key: cookie.value})
    done = await client.post(revoke.group(1), data={"csrf_token": token}, allow_redirects=False)
    assert done.status == 303
    jar.clear()
    assert (await client.get("/api/v1/health", headers=bearer)).status == 401
