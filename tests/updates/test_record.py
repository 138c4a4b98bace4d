"""Outcomes of updates reach the audit log and the centre, once each (issue #17, scope 3)."""

from __future__ import annotations

import json
from pathlib import Path

from appliance import central_outbox
from tests.conftest import make_config, opened_core
from updates.dashboard import update_alerts
from updates.record import (
    Outcome,
    Pending,
    clear_pending,
    import_outcomes,
    read_pending,
    write_outcome,
    write_pending,
)


def test_the_pending_update_survives_a_torn_file_as_nothing_pending(tmp_path: Path) -> None:
    assert read_pending(tmp_path) is None
    pending = Pending("B", "2.0", "A", "1.0", 1000.0)
    write_pending(pending, tmp_path)
    assert read_pending(tmp_path) == pending
    assert (tmp_path / "pending.json").stat().st_mode & 0o777 == 0o644
    (tmp_path / "pending.json").write_text('{"to_slot": "B", "to_ver')
    assert read_pending(tmp_path) is None
    clear_pending(tmp_path)
    clear_pending(tmp_path)  # twice: nothing to clear is fine
    assert read_pending(tmp_path) is None


async def test_outcomes_are_audited_and_sent_up_once_each(tmp_path: Path) -> None:
    folder = tmp_path / "update"
    write_outcome(
        Outcome("reverted", "2.0", "1.0", "l'interface web ne répond pas", at=5.0), folder
    )
    write_outcome(Outcome("committed", "2.1", "1.0", at=9.0), folder)
    (folder / "outcomes" / "torn.json").write_text("{")
    write_outcome(Outcome("exploded", "2.2", "1.0", at=10.0), folder)  # not an outcome we know
    async with opened_core(make_config(tmp_path / "data", updates={"folder": str(folder)})) as core:
        assert await import_outcomes(core) == 2
        assert await import_outcomes(core) == 0  # the gate and the job both run it
        audit = await core.audit.recent()
        assert [(row["action"], row["outcome"], row["target"]) for row in audit[:2]] == [
            ("system.update", "committed", "2.1"),
            ("system.update", "reverted", "2.0"),
        ]
        messages = await central_outbox.waiting(core.db)
        bodies = [
            json.loads(m["body"]) if isinstance(m["body"], str) else m["body"] for m in messages
        ]
        assert [(m["kind"], b["outcome"]) for m, b in zip(messages, bodies, strict=True)] == [
            ("update", "reverted"),
            ("update", "committed"),
        ]
        assert bodies[0]["reason"] == "l'interface web ne répond pas"


async def test_the_referent_is_told_of_a_revert_until_an_update_is_kept(tmp_path: Path) -> None:
    folder = tmp_path / "update"
    async with opened_core(make_config(tmp_path / "data", updates={"folder": str(folder)})) as core:
        assert await update_alerts(core, 100.0) == []
        write_outcome(
            Outcome("reverted", "2.0", "1.0", "l'interface web ne répond pas", at=50.0), folder
        )
        await import_outcomes(core)
        (alert,) = await update_alerts(core, 100.0)
        assert alert.level == "warning"
        assert "annulée" in alert.message
        assert alert.values == {"version": "2.0", "reason": "l'interface web ne répond pas"}
        assert await update_alerts(core, 50.0 + 8 * 24 * 3600) == []  # a week later
        write_outcome(Outcome("committed", "2.1", "1.0", at=60.0), folder)
        await import_outcomes(core)
        assert await update_alerts(core, 100.0) == []
