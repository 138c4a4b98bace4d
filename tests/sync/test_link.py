"""A box and its centre: enrolment, signed policy, refusals, revocation, reports (issue #14).

The centre is real (`preau-central` behind nginx, see conftest); the box is a
core running the sync service's turns one by one, so each step is checked
where it happens. CARMO chapter 20 (automatic reports), #5.8 (approved
updates), #8.15 (availability).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from appliance.config_overlay import read_overlay
from appliance.core import Core
from appliance.published import published_rows
from sync.credentials import CredentialError
from sync.link import enrol
from sync.service import SyncService
from sync.state import read_link, spool_size
from tests.conftest import SCHOOL_UAI, make_config, opened_core
from tests.sync.conftest import Centre

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Core]:
    """Return a box's core (no service started)."""
    config = make_config(tmp_path / "box", sync={"report_minutes": 0.05})
    async with opened_core(config) as core:
        yield core


@pytest.fixture
async def service(box: Core) -> AsyncIterator[SyncService]:
    """Return the box's sync service, set up but without its loop."""
    sync = SyncService(box)
    await sync.async_setup()
    try:
        yield sync
    finally:
        await sync.async_stop()


async def test_a_token_enrols_one_box_once_for_its_school(
    centre: Centre, box: Core, tmp_path: Path
) -> None:
    token = centre.token(SCHOOL_UAI)
    link = await enrol(box, token, "referent", "web")
    assert link.box_id.startswith(SCHOOL_UAI)
    assert link.uai == SCHOOL_UAI
    # The private key stays on the box, readable by its owner only.
    key = box.config.site.data_dir / "sync" / "box.pem"
    assert key.stat().st_mode & 0o077 == 0
    # The centre holds the public half only.
    stored = [p.read_text() for p in (centre.central / "intake" / "boxes").glob("*.json")]
    assert len(stored) == 1
    assert "PRIVATE" not in stored[0]
    assert all(b"PRIVATE" not in p.read_bytes() for p in centre.central.rglob("*.json"))
    # The same token again: refused by the centre, even from another box.
    async with opened_core(make_config(tmp_path / "other")) as other:
        with pytest.raises(CredentialError, match="jeton refusé par le centre"):
            await enrol(other, token, "referent", "web")


async def test_an_expired_token_or_another_schools_token_is_refused(
    centre: Centre, box: Core
) -> None:
    # Minted for another school: the box refuses it before sending anything.
    with pytest.raises(CredentialError, match="pour l'établissement 0999999Z"):
        await enrol(box, centre.token("0999999Z"), "referent", "web")
    # Expired at the centre: a token's record says when it dies.
    token = centre.token(SCHOOL_UAI, "--hours", "1")
    for record in (centre.central / "intake" / "tokens").glob("*.json"):
        values = json.loads(record.read_text())
        values["expires"] = 1.0
        record.write_text(json.dumps(values))
    with pytest.raises(CredentialError, match="expiré"):
        await enrol(box, token, "referent", "web")
    # A token lives 72 hours at most.
    assert "72" in centre.cli("token", SCHOOL_UAI, "--hours", "73", check=False)
    # Not a token at all.
    with pytest.raises(CredentialError, match="pas un jeton"):
        await enrol(box, "bonjour", "referent", "web")


async def test_signed_metadata_refused_keeps_the_last_good_and_says_so(
    centre: Centre, service: SyncService, centre_factory: Callable[[str], Centre]
) -> None:
    box = service.core
    await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    await service.turn()
    link = await read_link(box.db)
    assert link.time_trusted
    assert not link.policy_stale
    first = link.policy_version

    metadata = centre.central / "repository" / "metadata"
    kept = (metadata / "timestamp.json").read_bytes()
    centre.cli("group", "academie", SCHOOL_UAI, "0999999Z")
    await service.turn()
    link = await read_link(box.db)
    assert link.policy_version > first
    assert not link.policy_stale
    current = (metadata / "timestamp.json").read_bytes()

    # 1. A replayed older publication (the old timestamp put back): refused.
    (metadata / "timestamp.json").write_bytes(kept)
    await service.turn()
    link = await read_link(box.db)
    assert link.policy_stale
    assert "ancienne" in link.last_error

    # 2. A publication signed by another centre's keys: refused.
    other = centre_factory("impostor")
    for _ in range(4):  # its timestamp's version above ours, so only its keys are wrong
        other.cli("refresh")
    shutil.copy(other.central / "repository" / "metadata" / "timestamp.json", metadata)
    await service.turn()
    link = await read_link(box.db)
    assert link.policy_stale
    assert "signature" in link.last_error

    # 3. An expired timestamp: refused; the service reports it and keeps running.
    (metadata / "timestamp.json").write_bytes(current)  # the centre's own, then newer ones
    for _ in range(6):
        centre.cli("refresh")
    await service.turn()
    assert not (await read_link(box.db)).policy_stale
    expired_timestamp(centre)
    await service.turn()
    link = await read_link(box.db)
    assert link.policy_stale
    assert "expirées" in link.last_error
    health = await service.async_health()
    assert health.status == "degraded"
    assert "reste en place" in health.text


def expired_timestamp(centre: Centre) -> None:
    """Re-sign the centre's timestamp with an expiry already past."""
    import datetime as dt

    from sync.repository import CentralRepository

    repo = CentralRepository(centre.central)
    repo.refresh_timestamp(lifetime=dt.timedelta(seconds=-3600))


async def test_a_revoked_box_is_refused_and_says_so(centre: Centre, service: SyncService) -> None:
    box = service.core
    link = await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    await service.turn()
    centre.cli("revoke", link.box_id)
    await service.turn()
    link = await read_link(box.db)
    assert link.revoked
    health = await service.async_health()
    assert health.status == "down"
    assert "révoqué" in health.text
    # /metrics says it too (the centre's supervision and the referent's).
    assert ("preau_sync_revoked", "", 1.0) in await published_rows(box)
    # Its reports are refused by the centre too.
    reports_before = len(list((centre.central / "intake" / "reports").rglob("*.json")))
    link.revoked = False  # even a box that did not notice is refused at its next exchange
    from sync.state import write_link

    await write_link(box.db, link)
    await service.turn()
    assert (await read_link(box.db)).revoked
    assert len(list((centre.central / "intake" / "reports").rglob("*.json"))) == reports_before


async def test_keys_rotate_without_enrolling_again(centre: Centre, service: SyncService) -> None:
    box = service.core
    await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    key_file = box.config.site.data_dir / "sync" / "box.pem"
    first = key_file.read_bytes()
    await service.link.rotate_key("referent", "web")
    assert key_file.read_bytes() != first
    # The centre takes the new key: the next exchange is accepted.
    await service.turn()
    link = await read_link(box.db)
    assert not link.revoked
    assert link.last_error == ""
    assert link.sent_total >= 1
    # The old key is refused now (a report is due, so the turn signs a request).
    key_file.write_bytes(first)
    service._last_report = 0.0
    await service.turn()
    assert "refusé" in (await read_link(box.db)).last_error


async def test_each_report_arrives_once_even_when_the_acknowledgement_is_lost(
    centre: Centre, service: SyncService
) -> None:
    box = service.core
    link = await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    await service.turn()
    folder = centre.central / "intake" / "reports" / link.box_id
    assert len(list(folder.glob("*.json"))) == 1
    # The centre stored the report but the box died before forgetting it: the
    # box sends it again and the centre keeps one copy.
    async with box.db.write() as tx:
        await tx.execute(
            "INSERT INTO sync_spool (seq, created_at, size, payload) VALUES (1, 0, 2, '{}')"
        )
    stored = json.loads(sorted(folder.glob("*.json"))[0].read_text())
    async with box.db.write() as tx:
        await tx.execute(
            "UPDATE sync_spool SET payload = ?, created_at = ? WHERE seq = 1",
            (json.dumps({k: v for k, v in stored.items() if k != "key"}), stored["generated_at"]),
        )
    service._last_report = float("inf")  # no new report this turn
    await service.turn()
    assert len(list(folder.glob("*.json"))) == 1
    assert await spool_size(box.db) == (0, 0)


async def test_a_policy_the_box_cannot_take_is_refused_whole_naming_the_key(
    centre: Centre, service: SyncService
) -> None:
    box = service.core
    await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    centre.publish(
        '[settings]\n"filter.deny" = { value = 5, locked = true }\n'
        '"site.name" = { value = "Nom du centre", locked = true }\n'
    )
    await service.turn()
    link = await read_link(box.db)
    assert not link.pending
    assert link.policy_digest == ""
    assert link.policy_problem_values == {"key": "filter.deny"}
    assert read_overlay(box.config.site.data_dir) == ({}, "")
    health = await service.async_health()
    assert health.status == "degraded"
    assert "filter.deny" in health.text
    # Not tried again at the next poll; a corrected publication is.
    await service.turn()
    assert (await read_link(box.db)).refused_digests == link.refused_digests
    # A bundle that names a key only the box may set cannot even be published.
    bundle = centre.folder / "local.toml"
    bundle.write_text('[settings]\n"web.port" = { value = 1 }\n')
    refused = centre.cli("publish", str(bundle), check=False)
    assert "propre à chaque boîtier" in refused


async def test_a_renewed_root_and_a_new_online_key_keep_the_box_trusting(
    centre: Centre, service: SyncService, centre_factory: Callable[[str], Centre], tmp_path: Path
) -> None:
    """The anchors' outage (an expired TUF root) is avoided by renewing, which boxes follow."""
    box = service.core
    await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    await service.turn()
    first = await read_link(box.db)
    assert not first.policy_stale
    # The root key lives offline; it is brought back for the renewal only.
    offline = tmp_path / "usb" / "root.pem"
    offline.parent.mkdir()
    shutil.move(centre.central / "keys" / "root.pem", offline)
    stranger = centre_factory("stranger").central / "keys" / "root.pem"
    refused = centre.cli("root-renew", "--root-key", str(stranger), check=False)
    assert "pas la clé racine" in refused
    old_online = (centre.central / "keys" / "online.pem").read_bytes()
    said = centre.cli("root-renew", "--root-key", str(offline), "--rotate-online")
    assert "racine version 2" in said
    assert (centre.central / "keys" / "online.pem").read_bytes() != old_online
    centre.cli("group", "academie", SCHOOL_UAI)
    await service.turn()
    link = await read_link(box.db)
    assert not link.policy_stale, link.last_error
    assert link.policy_version > first.policy_version
    trusted = json.loads((box.config.site.data_dir / "sync" / "tuf" / "root.json").read_text())
    assert trusted["signed"]["version"] == 2
    # The old online key counts no more: what it signs (the time, the timestamp) is refused.
    exchanged = link.last_exchange_at
    (centre.central / "keys" / "online.pem").write_bytes(old_online)
    centre.cli("refresh")
    await service.turn()
    link = await read_link(box.db)
    assert "clé inconnue" in link.last_error
    assert link.last_exchange_at == exchanged


async def test_a_root_not_signed_by_the_trusted_root_key_is_refused(
    centre: Centre, service: SyncService, centre_factory: Callable[[str], Centre]
) -> None:
    """A thief of the online server signs the time and offers a root of his: both refused."""
    box = service.core
    await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    await service.turn()
    thief = centre_factory("thief")
    thief.cli("root-renew", "--rotate-online")
    metadata = centre.central / "repository" / "metadata"
    shutil.copy(thief.central / "repository" / "metadata" / "2.root.json", metadata)
    shutil.copy(thief.central / "keys" / "online.pem", centre.central / "keys" / "online.pem")
    await service.turn()
    link = await read_link(box.db)
    assert link.last_error.startswith("racine %(version)s du dépôt refusée")
    assert link.last_error_values["version"] == 2
    trusted = json.loads((box.config.site.data_dir / "sync" / "tuf" / "root.json").read_text())
    assert trusted["signed"]["version"] == 1


def test_the_central_team_is_warned_two_months_before_the_root_expires(centre: Centre) -> None:
    import datetime as dt

    from sync.repository import CentralRepository, now_utc

    assert "racine expire" not in centre.cli("refresh")
    # A root renewed 340 days ago has 25 days left.
    CentralRepository(centre.central).renew_root(now=now_utc() - dt.timedelta(days=340))
    said = centre.cli("refresh")
    assert "la racine expire dans 24 jours" in said or "la racine expire dans 25 jours" in said
    assert "root-renew" in said
