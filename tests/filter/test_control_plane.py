"""Filtering from the control plane: API, admin page, block page, metrics, list updates."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from appliance.core import Core
from appliance.identity.model import Person
from appliance.metrics import render_metrics
from appliance.scheduler.jobs import load_calendar
from appliance.scheduler.periods import grid_from_config
from appliance.web.app import create_app
from filter.config import FilterConfig, ListSource
from filter.list_updates import ListUpdateError, update_list
from filter.service import FilterService
from filter.state import registered_lists
from tests.appliance.web.conftest import ClientFactory, api_login, seed_local_people
from tests.conftest import SCHOOL_UAI, free_port, make_config, opened_core
from tests.filter.conftest import default_test_groups, write_ut1_tree

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def filter_core(tmp_path: Path) -> Any:
    config = make_config(
        tmp_path / "data",
        filter={
            "groups": default_test_groups(),
            "networks": [{"cidr": "127.0.0.0/8", "group": "college"}],
            "blockpage_listen": f"127.0.0.1:{free_port()}",
        },
    )
    async with opened_core(config) as core:
        from filter.cli import import_list

        await import_list(
            core, write_ut1_tree(tmp_path / "ut1"), name="ut1", list_format="ut1", category=""
        )
        await seed_local_people(core)
        yield core


async def test_api_overrides_explain_and_lists(
    filter_core: Core, aiohttp_client: ClientFactory
) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(filter_core))
    token = await api_login(client, "referent")
    headers = {"X-CSRF-Token": token}
    explained = await client.get(
        "/api/v1/filter/explain", params={"domain": "www.porn-site.test", "group": "college"}
    )
    body = await explained.json()
    assert body["blocked"]
    assert (body["category"], body["list"], body["matched"]) == ("adult", "ut1", "porn-site.test")
    lists = await (await client.get("/api/v1/filter/lists")).json()
    assert lists["lists"][0]["not_enforceable"] == {"ip": 1, "urls": 4, "expressions": 1}
    created = await client.post(
        "/api/v1/filter/overrides",
        json={
            "target_kind": "class",
            "target": "6A",
            "action": "allowlist_only",
            "minutes": 55,
            "allowlist": "examen",
        },
        headers=headers,
    )
    assert created.status == 201
    override_id = (await created.json())["id"]
    listed = await (await client.get("/api/v1/filter/overrides")).json()
    assert [o["id"] for o in listed["overrides"]] == [override_id]
    bad = await client.post(
        "/api/v1/filter/overrides",
        json={"target_kind": "group", "target": "nope", "action": "block_all", "minutes": 5},
        headers=headers,
    )
    assert bad.status == 422
    assert "aucun groupe nommé" in (await bad.json())["error"]["message"]
    ended = await client.delete(f"/api/v1/filter/overrides/{override_id}", headers=headers)
    assert ended.status == 200


async def test_teacher_may_only_target_a_class_they_teach(
    filter_core: Core, aiohttp_client: ClientFactory
) -> None:
    # Issue #13 scope 3 (CARMO #9.2): "prof" teaches 6A, "prof2" teaches 6A and 5B.
    await filter_core.directory.add_local_person(
        Person("eleve5b", "local", "E", "pupil", SCHOOL_UAI, class_name="5B"), "pupil-password-2"
    )
    await filter_core.directory.add_local_person(
        Person("prof2", "local", "M. Roux", "teacher", SCHOOL_UAI, teaches=("6A", "5B")),
        "teacher-password-2",
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(filter_core))

    def cut(target: str, kind: str = "class") -> dict[str, Any]:
        return {"target_kind": kind, "target": target, "action": "block_all", "minutes": 50}

    token = await api_login(client, "referent")
    referent_headers = {"X-CSRF-Token": token}
    unknown = await client.post(
        "/api/v1/filter/overrides", json=cut("6Z"), headers=referent_headers
    )
    assert unknown.status == 422  # a class the school does not have, even for the referent
    by_referent = await client.post(
        "/api/v1/filter/overrides", json=cut("6A"), headers=referent_headers
    )
    assert by_referent.status == 201
    await client.delete("/api/v1/session")
    token = await api_login(client, "prof")
    headers = {"X-CSRF-Token": token}
    group = await client.post(
        "/api/v1/filter/overrides", json=cut("college", "group"), headers=headers
    )
    assert group.status == 403
    other_class = await client.post("/api/v1/filter/overrides", json=cut("5B"), headers=headers)
    assert other_class.status == 403
    assert "5B" in (await other_class.json())["error"]["message"]
    own_class = await client.post("/api/v1/filter/overrides", json=cut("6A"), headers=headers)
    assert own_class.status == 201
    own_id = (await own_class.json())["id"]
    # The referent's control on the class is not the teacher's to end.
    ended = await client.delete(
        f"/api/v1/filter/overrides/{(await by_referent.json())['id']}", headers=headers
    )
    assert ended.status == 403
    # A second teacher of the class takes the teacher's control over; a teacher of
    # another class cannot.
    await client.delete("/api/v1/session")
    token = await api_login(client, "prof2", "teacher-password-2")
    take_over = await client.delete(
        f"/api/v1/filter/overrides/{own_id}", headers={"X-CSRF-Token": token}
    )
    assert take_over.status == 200
    cut_5b = await client.post(
        "/api/v1/filter/overrides", json=cut("5B"), headers={"X-CSRF-Token": token}
    )
    assert cut_5b.status == 201
    await client.delete("/api/v1/session")
    token = await api_login(client, "prof")
    foreign = await client.delete(
        f"/api/v1/filter/overrides/{(await cut_5b.json())['id']}",
        headers={"X-CSRF-Token": token},
    )
    assert foreign.status == 403
    actions = [(e["actor"], e["action"]) for e in await filter_core.audit.recent(20)]
    assert ("prof2", "filter.override.end") in actions


async def test_block_page_request_reaches_referent_and_allowing_unblocks(
    filter_core: Core, aiohttp_client: ClientFactory
) -> None:
    service = FilterService(filter_core)
    await filter_core.async_start_services([service])
    try:
        base = f"http://{filter_core.config.section(FilterConfig).blockpage_listen}"
        async with aiohttp.ClientSession() as session:
            async with session.get(base + "/", headers={"Host": "www.porn-site.test"}) as page:
                text = await page.text()
                assert page.status == 403
                assert "Ce site est bloqué" in text
                assert "Contenus pour adultes" in text  # UT1's "adult", in words
            # A browser that asks for English reads the page (and its answer) in English.
            english_headers = {"Host": "www.porn-site.test", "Accept-Language": "en-GB,en;q=0.8"}
            async with session.get(base + "/", headers=english_headers) as page:
                text = await page.text()
                assert page.status == 403
                assert '<html lang="en">' in text
                assert "This site is blocked at school" in text
                assert "Adult content" in text
                assert "Ce site" not in text
            async with session.get(
                base + "/?lang=fr", headers=english_headers
            ) as page:  # the link back to French
                assert "Ce site est bloqué" in await page.text()
            async with session.post(
                base + "/demande",
                data={"domain": "www.porn-site.test", "lang": "en"},
                headers={"Host": "www.porn-site.test"},
            ) as sent:
                assert sent.status == 200
                assert "Request sent" in await sent.text()
            async with session.post(
                base + "/demande",
                data={"domain": "not a domain", "lang": "en"},
                headers={"Host": "www.porn-site.test"},
            ) as bad:
                assert bad.status == 400
                assert "is not a domain name" in await bad.text()
            async with session.post(
                base + "/demande",
                data={"domain": "www.porn-site.test", "message": "exposé SVT"},
                headers={"Host": "www.porn-site.test"},
            ) as sent:
                assert sent.status == 200
                assert "Demande envoyée" in await sent.text()
        client: TestClient[Any, Any] = await aiohttp_client(create_app(filter_core))
        token = await api_login(client, "referent")
        requests = (await (await client.get("/api/v1/filter/unblock-requests")).json())["requests"]
        assert [r["domain"] for r in requests] == ["www.porn-site.test"] * 2
        assert requests[0]["group_name"] == "college"
        assert "127.0.0.1" not in repr(requests)  # no address kept
        allowed = await client.post(
            f"/api/v1/filter/unblock-requests/{requests[0]['id']}",
            json={"status": "allowed"},
            headers={"X-CSRF-Token": token},
        )
        assert allowed.status == 200
        from filter.clients import Client

        # The service's change feed picks the allowed domain up within its poll.
        for _ in range(40):
            decision = service.engine.explain(
                "www.porn-site.test", Client("x", "college"), time.time()
            )
            if not decision.blocked:
                break
            await asyncio.sleep(0.05)
        assert not decision.blocked
        assert decision.rule == "allow:group"
        page = await client.get("/filtering")
        assert "www.porn-site.test" in await page.text()
    finally:
        await filter_core.async_stop_services()


async def served_queries(core: Core, queries: list[tuple[str, str]]) -> None:
    """Run the filter service in-process, answer (name, client) pairs, flush figures."""
    from dnslib import DNSRecord

    service = FilterService(core)
    await core.async_start_services([service])
    try:
        for name, address in queries:
            service.engine.handle(DNSRecord.question(name).pack(), address, time.time())
        await service.flush()
    finally:
        await core.async_stop_services()


async def test_metrics_show_filter_figures_and_pass_promtool(
    filter_core: Core, aiohttp_client: ClientFactory
) -> None:
    await served_queries(
        filter_core,
        [(name, "127.0.0.9") for name in ("casino.test", "www.porn-site.test", "casino.test")],
    )
    text = (await render_metrics(filter_core)).decode()
    assert 'preau_filter_blocked_total{category="gambling",group="college"} 2.0' in text
    assert "preau_filter_cache_hit_ratio" in text
    assert "preau_filter_upstream_latency_p99_seconds" in text
    result = subprocess.run(  # noqa: ASYNC221 - short, after the service stopped
        ["/usr/bin/promtool", "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_filtering_page_explains(filter_core: Core, aiohttp_client: ClientFactory) -> None:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(filter_core))
    await api_login(client, "referent")
    page = await client.get("/filtering", params={"domain": "deep.casino.test", "group": "college"})
    text = await page.text()
    assert page.status == 200
    assert "Jeux d'argent" in text  # UT1's "gambling", in words
    assert "category:college" in text
    assert "Université Toulouse Capitole" in text


async def test_nightly_list_update_checks_the_checksum_and_keeps_the_old_list(
    tmp_path: Path, filter_core: Core, aiohttp_server: Any
) -> None:
    tree = write_ut1_tree(tmp_path / "new")
    (tree / "gambling" / "domains").write_text("casino.test\nnew-casino.test\n")
    tarball = tmp_path / "blacklists.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tree, arcname="blacklists")
    digest = hashlib.md5(tarball.read_bytes(), usedforsecurity=False).hexdigest()

    async def serve_list(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(tarball)

    async def good(request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"{digest}  blacklists.tar.gz\n")

    async def bad(request: web.Request) -> web.StreamResponse:
        return web.Response(text="0" * 32 + "\n")

    app = web.Application()
    app.router.add_get("/blacklists.tar.gz", serve_list)
    app.router.add_get("/good.md5", good)
    app.router.add_get("/bad.md5", bad)
    server = await aiohttp_server(app, host="127.0.0.1")
    base = f"http://127.0.0.1:{server.port}"
    before = await registered_lists(filter_core)
    with pytest.raises(ListUpdateError, match="checksum mismatch"):
        await update_list(
            filter_core,
            ListSource(
                name="ut1",
                url=base + "/blacklists.tar.gz",
                format="ut1",
                checksum_url=base + "/bad.md5",
            ),
        )
    assert await registered_lists(filter_core) == before
    summary = await update_list(
        filter_core,
        ListSource(
            name="ut1",
            url=base + "/blacklists.tar.gz",
            format="ut1",
            checksum_url=base + "/good.md5",
        ),
    )
    assert "domaines compilés" in summary
    after = await registered_lists(filter_core)
    assert after[0]["categories"]["gambling"] == 2


def test_jobs_include_list_updates_in_the_night_window(tmp_path: Path) -> None:
    from tests.conftest import run_preau, write_config

    config = make_config(
        tmp_path / "data",
        filter={
            "sources": [
                {"name": "ut1", "url": "https://example.invalid/ut1.tar.gz", "format": "ut1"}
            ]
        },
    )
    path = write_config(config, tmp_path / "p.toml")
    assert run_preau("state", "migrate", config_path=path).returncode == 0  # a box that started
    result = run_preau("jobs", "list", config_path=path)
    line = next(line for line in result.stdout.splitlines() if line.startswith("list-update-ut1"))
    assert "nightly" in line
    assert "01:00-05:00" in line


async def test_blocked_export_has_groups_not_addresses(
    filter_core: Core, aiohttp_client: ClientFactory
) -> None:
    await served_queries(filter_core, [("casino.test", "127.0.0.77")])
    client: TestClient[Any, Any] = await aiohttp_client(create_app(filter_core))
    await api_login(client, "referent")
    csv = await (await client.get("/api/v1/filter/blocked", params={"format": "csv"})).text()
    assert "college,casino.test,gambling,1" in csv
    assert "127.0.0.77" not in csv


async def test_upstream_failover_to_the_next_resolver(unbound: Any) -> None:
    from filter.upstream import Upstreams

    dead = f"127.0.0.1:{free_port()}"
    upstreams = Upstreams([dead, unbound.endpoint], 0.5)
    try:
        answer = await upstreams.resolve(b"www.example.test", 1, 1, False)
    finally:
        upstreams.close()
    assert answer is not None
    assert upstreams.failures == 1
    from dnslib import DNSRecord

    assert str(DNSRecord.parse(answer).rr[0].rdata) == "192.0.2.10"


async def test_form_with_unknown_action_is_a_clear_400(
    filter_core: Core, aiohttp_client: ClientFactory
) -> None:
    import re

    client: TestClient[Any, Any] = await aiohttp_client(create_app(filter_core))
    await api_login(client, "referent")
    page = await client.get("/filtering")
    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert token is not None
    response = await client.post(
        "/filtering/overrides",
        data={
            "target_kind": "class",
            "target": "6A",
            "action": "explode",
            "minutes": "5",
            "csrf_token": token.group(1),
        },
    )
    assert response.status == 400
    assert "action" in await response.text()


async def test_the_referent_picks_a_class_or_a_group_instead_of_typing_it(
    filter_core: Core, aiohttp_client: ClientFactory
) -> None:
    """#16 scope 4: the override's target is a picker (classes, named groups, addresses)."""
    import re

    client: TestClient[Any, Any] = await aiohttp_client(create_app(filter_core))
    await api_login(client, "referent")
    page = await (await client.get("/filtering")).text()
    assert '<option value="class:6A">6A</option>' in page
    assert '<option value="group:college">Collégiens</option>' in page
    assert 'name="target"' not in page  # no free text for a class or a group
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    form = {"action": "block_all", "minutes": "5", "csrf_token": token.group(1)}
    unknown = await client.post("/filtering/overrides", data=form | {"target_choice": "class:6Z"})
    assert unknown.status == 400
    assert "aucune classe « 6Z »" in await unknown.text()
    for choice, extra in (("class:6A", {}), ("group:college", {}),
                          ("clients", {"clients": "10.9.0.0/24"})):  # fmt: skip
        done = await client.post(
            "/filtering/overrides",
            data=form | {"target_choice": choice} | extra,
            allow_redirects=False,
        )
        assert done.status == 303, await done.text()
    rows = await filter_core.db.fetchall(
        "SELECT target_kind, target FROM filter_overrides ORDER BY id"
    )
    assert [(r["target_kind"], r["target"]) for r in rows][-3:] == [
        ("class", "6A"), ("group", "college"), ("clients", "10.9.0.0/24"),
    ]  # fmt: skip


async def test_a_teachers_control_ends_with_the_creneau_and_extends_by_one(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    """Issue #13 scope 4: no length given, the control ends with the créneau (server-side)."""
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    scheduler = {
        "school_days": every_day,
        "periods": [{"name": "A", "hours": "00:00-12:00"}, {"name": "B", "hours": "12:00-24:00"}],
    }
    config = make_config(tmp_path / "data", scheduler=scheduler)
    async with opened_core(config) as core:
        await seed_local_people(core)
        client: TestClient[Any, Any] = await aiohttp_client(create_app(core))
        token = await api_login(client, "prof")
        headers = {"X-CSRF-Token": token}
        cut = await client.post(
            "/api/v1/filter/overrides",
            json={"target_kind": "class", "target": "6A", "action": "block_all"},
            headers=headers,
        )
        assert cut.status == 201, await cut.text()
        row = await cut.json()
        grid = grid_from_config(core.config.scheduler)
        calendar = await load_calendar(core)
        fallback = dt.timedelta(minutes=55)
        created = dt.datetime.fromtimestamp(row["created_at"], dt.UTC)
        expected, lesson = grid.restriction_end(calendar, created, fallback)
        assert lesson is not None
        assert row["expires_at"] == pytest.approx(expected.timestamp(), abs=2)
        extended = await client.post(
            f"/api/v1/filter/overrides/{row['id']}/extend", headers=headers
        )
        assert extended.status == 200, await extended.text()
        answer = await extended.json()
        following, after = grid.extended(calendar, expected, fallback)
        assert after is not None
        assert answer == {
            "id": row["id"],
            "expires_at": pytest.approx(following.timestamp(), abs=2),
            "creneau": after.name,
        }
        listed = (await (await client.get("/api/v1/filter/overrides")).json())["overrides"]
        assert listed[0]["expires_at"] == pytest.approx(following.timestamp(), abs=2)
        # A second extension would pass 24 hours from the start: refused.
        again = await client.post(f"/api/v1/filter/overrides/{row['id']}/extend", headers=headers)
        assert again.status in (200, 409)
        if again.status == 200:
            third = await client.post(
                f"/api/v1/filter/overrides/{row['id']}/extend", headers=headers
            )
            assert third.status == 409
