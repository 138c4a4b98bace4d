"""The judicial path: PERSONNEL opens with T of N custodians' shares, never
with one, and never from what the box stores (issue #5 scope 2; CARMO #7.30)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import escrow
from storage.store import ProductionsStore
from tests.conftest import PREAU, make_config, opened_core, write_config

PASSWORD = "mot-de-passe-eleve-1"


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def test_shares_rebuild_the_identity_only_past_the_threshold() -> None:
    made = escrow.create(custodians=3, threshold=2)
    assert len(made.shares) == 3
    person = "AGE-SECRET-KEY-1" + "Q" * 58  # any text: the seal does not care
    sealed = escrow.seal_for_escrow(person, made.recipient)
    for pair in ((0, 1), (0, 2), (1, 2)):
        identity = escrow.rebuild([made.shares[i] for i in pair])
        assert escrow.open_from_escrow(sealed, identity) == person
    with pytest.raises(escrow.EscrowError):
        escrow.rebuild(made.shares[:1])
    other = escrow.create(custodians=2, threshold=2)
    with pytest.raises(escrow.EscrowError):
        escrow.open_from_escrow(sealed, escrow.rebuild(other.shares))
    with pytest.raises(escrow.EscrowError):
        escrow.create(custodians=3, threshold=1)  # never one person alone


def _preau(path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PREAU), "--config", str(path), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_escrow_through_the_cli(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")

    async def log_in_and_store(content: bytes | None) -> None:
        async with opened_core(config) as core:
            store = ProductionsStore(core)
            await store.unlock_at_login("eleve", PASSWORD, "s")
            if content is not None:
                await store.put(
                    "s", "eleve", "pupil", "personnel", "Journal/jour1.txt", _chunks(content)
                )

    asyncio.run(log_in_and_store(b"cher journal"))
    created = _preau(path, "personnel", "escrow-create", "--custodians", "3", "--threshold", "2")
    assert created.returncode == 0, created.stderr
    shares = [block.split("\n", 1)[1].strip() for block in created.stdout.split("--- part ")[1:]]
    assert len(shares) == 3
    again = _preau(path, "personnel", "escrow-create", "--custodians", "3", "--threshold", "2")
    assert again.returncode != 0
    # The key is sealed to the escrow at the person's next login.
    asyncio.run(log_in_and_store(None))
    output = tmp_path / "requisition.zip"
    one = _preau(
        path, "personnel", "escrow-open", "eleve", "--output", str(output), stdin=shares[0]
    )
    assert one.returncode != 0
    two = _preau(
        path,
        "personnel",
        "escrow-open",
        "eleve",
        "--output",
        str(output),
        stdin="\n".join(shares[1:]),
    )
    assert two.returncode == 0, two.stderr
    assert zipfile.ZipFile(output).read("PERSONNEL/Journal/jour1.txt") == b"cher journal"
    # The box keeps none of the shares' words, and the opening is in the audit log.
    with contextlib.closing(sqlite3.connect(config.state_path)) as conn, conn:
        dump = "\n".join(conn.iterdump())
        actions = [r[0] for r in conn.execute("SELECT action || ':' || outcome FROM audit")]
    for share in shares:
        assert " ".join(share.split()[:4]) not in dump
    assert "personnel.escrow_open:failure" in actions
    assert "personnel.escrow_open:success" in actions
