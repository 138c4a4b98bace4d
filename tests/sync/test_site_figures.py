"""What features add to the site report: storage, antivirus, backups, carts, CARMO — as counts.

The centre sees the space used per space type, how many accounts near their
quota (suppressed under 5), the last backup's and restore test's age and
state, and each cart's devices on the network, never who or which
(CARMO chapter 20, #5.22, #9.7).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import time
from pathlib import Path

import pytest

from appliance.antivirus import signatures_built_at
from appliance.core import Core
from appliance.features import Feature
from captive_portal.carts import cart_label
from storage.jobs import BACKUP_JOB, RESTORE_TEST_JOB
from sync.service import site_report
from sync.state import LinkState
from tests.conftest import make_config, opened_core
from tests.sync.conftest import FORBIDDEN

MB = 1_000_000
CART_MACS = [f"02:00:00:00:0c:{n:02x}" for n in range(8)]


async def seed(core: Core, now: float) -> None:
    """Six pupils near their quota, one far from it; two backups; a cart half on the network."""
    iso = dt.datetime.fromtimestamp(now - 7200, dt.UTC).isoformat()
    async with core.db.write() as tx:
        for n in range(7):
            used = 450 * MB if n < 6 else 10 * MB  # 90 % of the pupils' 500 MB, or 2 %
            await tx.execute(
                "INSERT INTO storage_usage (user, space, bytes, files, updated_at)"
                " VALUES (?, 'pedagogical', ?, 3, ?)",
                (f"eleve{n}", used, now),
            )
        await tx.execute(
            "INSERT INTO storage_usage (user, space, bytes, files, updated_at)"
            " VALUES ('eleve0', 'personnel', ?, 1, ?)",
            (450 * MB, now),
        )  # one account near its PERSONNEL quota: fewer than 5, suppressed
        await tx.execute(
            "INSERT INTO job_runs (job_id, last_success, last_error) VALUES (?, ?, '')",
            (BACKUP_JOB, iso),
        )
        await tx.execute(
            "INSERT INTO job_runs (job_id, last_success, last_error) VALUES (?, ?, ?)",
            (RESTORE_TEST_JOB, iso, "restic: snapshot illisible"),
        )
        for n, mac in enumerate(CART_MACS):
            last_seen = now - 60 if n < 5 else now - 86400  # five hold a lease now
            await tx.execute(
                "INSERT INTO portal_dhcp_devices (mac, ip, hostname, first_seen, last_seen)"
                " VALUES (?, ?, ?, ?, ?)",
                (mac, f"10.77.0.{100 + n}", f"ipad-{n}", now - 86400, last_seen),
            )


async def test_the_report_carries_storage_backups_and_carts_as_counts(tmp_path: Path) -> None:
    password = tmp_path / "restic.txt"
    password.write_text("restic-password\n")
    signatures = tmp_path / "clamav"
    signatures.mkdir()
    built = int(time.time()) - 30 * 3600  # freshclam last fetched 30 hours ago
    header = f"ClamAV-VDB:30 Nov 2026 08:11-0400:27480:2077321:90:X:X:raynman:{built}"
    (signatures / "daily.cld").write_bytes(header.encode().ljust(512) + b"\x1f\x8b")
    (signatures / "main.cvd").write_bytes(
        b"ClamAV-VDB:old:62:1:90:X:X:sigmgr:1600000000".ljust(512)
    )
    (signatures / "local.ign2").write_bytes(b"not a database")
    config = make_config(
        tmp_path / "data",
        productions={
            "antivirus": {"enabled": True, "database_dir": str(signatures)},
            "backup": {"enabled": True, "repository": str(tmp_path / "repo"),
                       "password_file": str(password)},
        },
        portal={"carts": [{"name": "Chariot 1 (CDI)", "classes": ["6A"], "macs": CART_MACS},
                          {"name": "Portables", "classes": ["5B"], "hostname_prefix": "pc-"}]},
    )  # fmt: skip
    now = time.time()
    async with opened_core(config) as core:
        await seed(core, now)
        report = await site_report(core, LinkState(uai="0000000X"), now)
    figures = {(f.name, tuple(sorted(f.labels.items()))): f.value for f in report.figures}
    pedagogical = (("space", "pedagogical"),)
    personnel = (("space", "personnel"),)
    assert figures[("preau_storage_used_bytes", pedagogical)] == 6 * 450 * MB + 10 * MB
    assert figures[("preau_storage_near_quota", pedagogical)] == 6
    assert figures[("preau_storage_near_quota", personnel)] is None  # one account: suppressed
    age = figures[("preau_antivirus_signatures_age_seconds", ())] or 0
    assert 30 * 3600 - 60 < age < 30 * 3600 + 60  # the newest database, not main.cvd
    assert figures[("preau_backup_failing", ())] == 0
    assert 7100 < (figures[("preau_backup_age_seconds", ())] or 0) < 7300
    assert figures[("preau_restore_test_failing", ())] == 1
    cart = (("cart", "chariot-1-cdi"),)
    assert figures[("preau_cart_devices", cart)] == 8
    assert figures[("preau_cart_devices_online", cart)] == 5
    assert figures[("preau_cart_devices", (("cart", "portables"),))] == 0
    # The CARMO conformity summary: what this setup meets, what it does not.
    carmo = {
        dict(labels)["requirement"]: value
        for (name, labels), value in figures.items()
        if name == "preau_carmo_met"
    }
    assert carmo == {
        "8.1": 1,  # a storage space for productions
        "8.12": 1,  # signatures 30 hours old
        "7.15": 1,  # backed up two hours ago
        "8.18": 0,  # the last restore test failed
        "7.2": 0,  # the filter runs, but no list is loaded
        "7.5": 0,  # no portal: no login per person
        "6.2": 0,  # no update cache
        "7.43": 0,  # the admin UI without HTTPS
    }
    text = report.model_dump_json()
    assert not FORBIDDEN.search(text)
    assert "eleve" not in text
    assert "ipad-" not in text
    assert "snapshot illisible" not in text  # a state, not the error's words


def test_a_cart_name_becomes_a_vocabulary_word() -> None:
    assert cart_label("Chariot 1 (CDI)") == "chariot-1-cdi"
    assert cart_label("Tablettes élèves — 2ᵉ étage") == "tablettes-eleves-2e-etage"
    assert cart_label("!!!") == "chariot"


def test_no_signature_database_gives_no_age(tmp_path: Path) -> None:
    assert signatures_built_at(tmp_path) is None
    (tmp_path / "daily.cvd").write_bytes(b"<html>proxy error</html>".ljust(512))
    assert signatures_built_at(tmp_path) is None


async def test_a_feature_whose_figures_fail_costs_only_its_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(core: Core, now: float) -> list[tuple[str, str, float]]:
        raise sqlite3.OperationalError("no such table: store_downloads")

    config = make_config(tmp_path / "data")
    async with opened_core(config) as core:
        await seed(core, time.time())
        core.features = (*core.features, Feature(name="cassée", site_figures=broken))
        report = await site_report(core, LinkState(uai="0000000X"), time.time())
    assert any(f.name == "preau_storage_used_bytes" for f in report.figures)
    assert "Site figures of cassée left out" in caplog.text


async def test_conformity_follows_the_setup(tmp_path: Path) -> None:
    """A list loaded, the portal and the cache on, HTTPS and a directory: each row turns to 1."""
    cert = tmp_path / "cert.pem"
    cert.write_text("-")
    config = make_config(
        tmp_path / "data",
        web={"tls_cert": str(cert), "tls_key": str(cert)},
        portal={"enabled": True},
        cache={"enabled": True},
        identity={"ldap": {"enabled": True, "uri": "ldaps://annuaire.example",
                           "security": "ldaps", "base_dn": "dc=example"}},
    )  # fmt: skip
    now = time.time()
    async with opened_core(config) as core:
        async with core.db.write() as tx:
            await tx.execute(
                "INSERT INTO filter_lists (name, format, source, path, sha256, domains,"
                " categories, not_enforceable, compiled_at)"
                " VALUES ('ut1', 'ut1', 'x', 'x', 'x', 10, '[]', 0, 'x')"
            )
        report = await site_report(core, LinkState(uai="0000000X"), now)
    carmo = {
        f.labels["requirement"]: f.value for f in report.figures if f.name == "preau_carmo_met"
    }
    for requirement in ("7.2", "7.5", "6.2", "7.43", "7.54"):
        assert carmo[requirement] == 1, requirement
    # No backup target, no antivirus: said, not hidden.
    assert carmo["7.15"] == carmo["8.18"] == carmo["8.12"] == 0
