"""A help request the referent forwards reaches the central team once (#16 scope 2, CARMO #10.5).

The centre is real (`preau-central` behind nginx); the box runs its sync
service's turns one by one. What goes up is the referent's text, the topic
and the asker's role: never the asker's identifier (ground rule 6).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance import central_outbox
from appliance.core import Core
from helpdesk import help_requests
from sync.link import enrol
from sync.service import SyncService
from tests.conftest import SCHOOL_UAI, make_config, opened_core
from tests.sync.conftest import Centre

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[SyncService]:
    """Return a box's sync service, set up but without its loop."""
    config = make_config(tmp_path / "box", sync={"report_minutes": 0.05})
    async with opened_core(config) as core:
        sync = SyncService(core)
        await sync.async_setup()
        try:
            yield sync
        finally:
            await sync.async_stop()


async def test_a_forwarded_request_reaches_the_centre_once_without_the_asker(
    centre: Centre, service: SyncService
) -> None:
    box: Core = service.core
    number = await help_requests.ask(
        box, "l.bernard", "pupil", "internet", "Le site de la BNF est bloqué en 4B.", "/internet"
    )
    assert not await central_outbox.linked(box)
    link = await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    assert await central_outbox.linked(box)
    summary = "Un élève de 4B signale gallica.bnf.fr bloqué : catégorie à revoir ?"
    assert await help_requests.forward(box, number, summary)
    assert not await help_requests.forward(box, number, summary)  # once
    await service.turn()
    assert await central_outbox.waiting(box.db) == []
    listed = json.loads(centre.cli("messages"))
    assert len(listed) == 1
    message = listed[0]
    assert message["uai"] == SCHOOL_UAI
    assert message["key"].startswith(link.box_id + ":")
    assert message["kind"] == "help"
    assert message["body"]["summary"] == summary
    assert (message["body"]["topic"], message["body"]["role"]) == ("internet", "pupil")
    stored = "".join(
        p.read_text() for p in (centre.central / "intake" / "messages").rglob("*.json")
    )
    assert "l.bernard" not in stored
    assert "Le site de la BNF" not in stored  # the referent's words, not the pupil's
    (row,) = await help_requests.mine(box, "l.bernard")
    assert row.forwarded_at is not None
    # A turn with nothing new sends nothing again.
    await service.turn()
    assert len(json.loads(centre.cli("messages"))) == 1


async def test_a_message_waits_while_the_centre_is_cut(
    centre: Centre, service: SyncService
) -> None:
    box: Core = service.core
    await enrol(box, centre.token(SCHOOL_UAI), "referent", "web")
    number = await help_requests.ask(box, "prof", "teacher", "device", "Chariot 2 en panne.", "")
    centre.cut()
    assert await help_requests.forward(box, number, "Chariot 2 : ne charge plus.")
    await service.turn()
    assert len(await central_outbox.waiting(box.db)) == 1
    centre.restore()
    await service.turn()
    assert await central_outbox.waiting(box.db) == []
    assert [m["body"]["summary"] for m in json.loads(centre.cli("messages"))] == [
        "Chariot 2 : ne charge plus."
    ]
