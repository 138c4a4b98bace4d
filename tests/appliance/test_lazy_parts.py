"""A unit's process imports only what its services run (#15 scope 4: the 1 GiB Pi).

Every process reads every feature's registration; the parts named for later
(routes, commands, jobs, panels, hooks) must not come with it, and each must
still resolve to what its field says.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
from aiohttp import web

from appliance.features import installed_features


def _python(code: str, *args: str) -> str:
    """Run CODE in a new interpreter (a unit's own process); return what it printed."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


# What the DNS filter's process must not hold: the web app and pages, the
# directory client, the calendar reader, the Prometheus client, other features.
_FILTER_PROCESS = """
import sys
from appliance.assembly import create_services
from appliance.cli import main
from appliance.config import demo_config
from appliance.core import Core
from pathlib import Path
core = Core(demo_config(Path(sys.argv[1])))
services = create_services(core, ["filter"])
assert [s.name for s in services] == ["filter"], services
heavy = ("appliance.web.app", "ldap", "icalendar", "prometheus_client", "filter.admin_pages",
         "storage.webdav", "sync.link", "captive_portal.service", "appliance.scheduler.service")
print(" ".join(name for name in heavy if name in sys.modules))
"""


def test_the_filter_process_imports_none_of_the_web_pages(tmp_path: Path) -> None:
    printed = _python(_FILTER_PROCESS, str(tmp_path))
    assert printed.strip() == "", f"imported: {printed}"


# The web's process, built with its app: no catalogue parsed before a text is
# asked for in English, nor the escrow's word tables (a slow box's boot, #17).
_WEB_PROCESS = """
import asyncio
import sys
from pathlib import Path
from appliance.assembly import create_services
from appliance.config import demo_config
from appliance.core import Core
from appliance.web.app import create_app
from appliance.web.rendering import CATALOGUES_KEY

async def main() -> None:
    core = Core(demo_config(Path(sys.argv[1])))
    await core.async_open()
    try:
        create_services(core, ["directory", "scheduler", "sync", "web"])
        app = create_app(core)
        loaded = ("babel.messages.pofile", "shamir_mnemonic")
        print(" ".join(n for n in loaded if n in sys.modules))
        print(app[CATALOGUES_KEY].gettext("en", "Se connecter"))
        print("babel.messages.pofile" in sys.modules)
    finally:
        await core.async_close()

asyncio.run(main())
"""


def test_the_web_process_compiles_no_catalogue_until_english_is_asked_for(
    tmp_path: Path,
) -> None:
    loaded, english, parsed = _python(_WEB_PROCESS, str(tmp_path)).splitlines()[-3:]
    assert loaded == "", f"imported at start: {loaded}"
    assert english == "Log in"
    assert parsed == "True"


def test_every_part_named_for_later_is_what_its_field_says() -> None:
    seen = 0
    for feature in installed_features():
        for table in feature.routes:
            assert isinstance(table, web.RouteTableDef), (feature.name, table)
            seen += 1
        for name, path in feature.commands.items():
            module, _, attribute = path.partition(":")
            command = getattr(__import__(module, fromlist=[attribute]), attribute)
            assert isinstance(command, click.Command), path
            assert command.name == name, path
            seen += 1
        for lifecycle in feature.web_lifecycle:
            assert callable(lifecycle)
        if feature.jobs is not None:
            assert callable(feature.jobs)
    assert seen >= 15


# `preau update …` as the health gate runs it while the box boots: aiohttp's
# client (only `update fetch` downloads) is not loaded (#17).
_UPDATE_COMMAND = """
import sys
from appliance.cli import main
sys.argv = ["preau", "update", "gate", "--help"]
try:
    main()
except SystemExit:
    pass
print("loaded:", *(name for name in ("aiohttp", "updates.fetch") if name in sys.modules))
"""


def test_an_update_command_other_than_fetch_loads_no_http_client() -> None:
    printed = _python(_UPDATE_COMMAND)
    assert "Utilisation : preau update gate" in printed
    assert printed.splitlines()[-1] == "loaded:"
