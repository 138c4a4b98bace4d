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
    result = subprocess.run(
        [sys.executable, "-c", _FILTER_PROCESS, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported: {result.stdout}"


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
