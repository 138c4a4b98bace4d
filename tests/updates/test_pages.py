"""The referent approves the offered update from the page (CARMO #5.8; issue #17 scope 2)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from appliance.core import Core
from tests.appliance.web.conftest import login_as
from updates import offered
from updates.approval import Offer, approver
from updates.config import UpdatesConfig
from updates.dashboard import update_alerts
from updates.record import Outcome, import_outcomes, write_outcome

PAGE = "/systeme/mises-a-jour"


def offer_bundle(core: Core, version: str = "2026.12.1") -> Offer:
    """Offer a bundle as ``preau update offer`` leaves it (root's side)."""
    folder = core.config.section(UpdatesConfig).folder
    source = folder.parent / f"{version}.raucb"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(version.encode() * 1000)
    offer = Offer(version, offered.copy_bundle(source, folder), 9000, "preau-amd64", 1000.0)
    offered.write_offer(offer, folder)
    return offer


async def form_token(client: TestClient[Any, Any]) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', await (await client.get(PAGE)).text())
    assert match is not None
    return match.group(1)


async def test_only_the_referent_opens_the_page(client: TestClient[Any, Any]) -> None:
    assert (await client.get(PAGE, allow_redirects=False)).status == 303  # to the login
    await login_as(client, "prof")
    assert (await client.get(PAGE, allow_redirects=False)).status in (303, 403)
    await login_as(client, "referent")
    page = await client.get(PAGE)
    assert page.status == 200
    text = await page.text()
    assert "Aucune mise à jour n'est proposée" in text
    assert 'id="running-version"' in text


async def test_the_referent_approves_the_bundle_shown_and_can_withdraw(
    client: TestClient[Any, Any], core: Core
) -> None:
    offer = offer_bundle(core)
    await login_as(client, "referent")
    (alert,) = await update_alerts(core, 2000.0)
    assert "attend votre approbation" in alert.message
    assert alert.link == PAGE
    text = await (await client.get(PAGE)).text()
    assert "2026.12.1" in text
    assert 'data-by=""' in text
    token = await form_token(client)

    # A page shown before another bundle was offered approves nothing.
    stale = {"csrf_token": token, "version": "2026.12.1", "sha256": "0" * 64}
    refused = await client.post(f"{PAGE}/approuver", data=stale, allow_redirects=False)
    assert refused.status == 409
    assert "a changé depuis l&#39;affichage" in await refused.text()
    assert offered.read_approval(core.config.site.data_dir) is None
    # A forged form is refused before anything is read.
    forged = {"csrf_token": token, "version": "../../etc", "sha256": offer.sha256}
    assert (await client.post(f"{PAGE}/approuver", data=forged)).status == 400
    # Without the form's token, nothing happens.
    bare = {"version": offer.version, "sha256": offer.sha256}
    assert (await client.post(f"{PAGE}/approuver", data=bare)).status in (400, 403)
    assert offered.read_approval(core.config.site.data_dir) is None

    good = {"csrf_token": token, "version": offer.version, "sha256": offer.sha256}
    approved = await client.post(f"{PAGE}/approuver", data=good, allow_redirects=False)
    assert approved.status == 303
    given = offered.read_approval(core.config.site.data_dir)
    # What root reads at install time says: the referent approved this bundle.
    assert approver(offer, given, ()) == "referent"
    text = await (await client.get(f"{PAGE}?fait=approuvee")).text()
    assert 'data-by="referent"' in text
    assert "prochaine fenêtre de maintenance" in text
    assert await update_alerts(core, 2000.0) == []
    audit = await core.audit.recent()
    assert (audit[0]["action"], audit[0]["target"], audit[0]["actor"]) == (
        "system.update.approve",
        "2026.12.1",
        "referent",
    )

    # Another bundle of the same version (rebuilt) needs its own approval.
    offer_bundle(core, "2026.12.1-b")
    assert 'data-by=""' in await (await client.get(PAGE)).text()

    withdrawn = await client.post(f"{PAGE}/retirer", data={"csrf_token": token})
    assert withdrawn.status == 200
    assert offered.read_approval(core.config.site.data_dir) is None
    assert (await core.audit.recent())[0]["action"] == "system.update.withdraw"


async def test_the_centres_approval_and_past_updates_are_shown(
    client: TestClient[Any, Any], core: Core
) -> None:
    folder = core.config.section(UpdatesConfig).folder
    write_outcome(Outcome("committed", "2026.11.2", "2026.10.1", at=1000.0), folder)
    write_outcome(
        Outcome("reverted", "2026.11.3", "2026.11.2", "l'interface web ne répond pas", at=2000.0),
        folder,
    )
    await import_outcomes(core)
    await login_as(client, "referent")
    text = await (await client.get(PAGE)).text()
    assert re.search(r'data-outcome="reverted"><strong>2026\.11\.3</strong>', text)
    assert "retour seul à la version précédente" in text
    assert "installée et gardée" in text
    assert text.index("2026.11.3") < text.index("2026.11.2")  # newest first
