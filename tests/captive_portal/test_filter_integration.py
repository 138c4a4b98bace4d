"""The portal and the DNS filter together in the appliance namespace, unbound
as "the internet": the filter answers a phone as the person logged in on it,
and a teacher's "block all" on a class cuts that class's phone in DNS and in
the kernel, not another class's (issue #4 scope 9; CARMO #7.2, #9.2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from filter.config import FilterConfig
from tests.captive_portal.conftest import (
    PORTAL_IP,
    WAN_IP,
    Lab,
    PortalProcess,
    add_user,
    block_class,
    curl,
    dig,
    portal_config,
    portal_login,
    start_internet,
    wait_until,
)
from tests.conftest import write_config

pytestmark = pytest.mark.timeout(120)
PASSWORD = "pupil-password-1"


def test_filter_follows_the_logged_in_class_and_block_all_cuts_it(lab: Lab, tmp_path: Path) -> None:
    start_internet(lab, tmp_path)
    config, path = portal_config(lab, tmp_path)
    config = config.model_copy(
        update={
            "filter": config.section(FilterConfig).model_copy(
                update={"listen": [f"{PORTAL_IP}:53"], "upstreams": [f"{WAN_IP}:53"]}
            )
        }
    )
    write_config(config, path)
    add_user(path, "a.sixieme", "pupil", "6A", PASSWORD)
    add_user(path, "b.cinquieme", "pupil", "5B", PASSWORD)
    portal = PortalProcess(lab, path, tmp_path / "preau.log", services=("portal", "filter"))
    portal.start()
    try:
        assert wait_until(lambda: dig(lab, lab.client, "cours.test") == WAN_IP, 10), portal.tail()
        assert portal_login(lab, "a.sixieme", PASSWORD).status == 200
        assert portal_login(lab, "b.cinquieme", PASSWORD, ns=lab.other).status == 200
        assert "origin page" in curl(lab.client, "http://cours.test/index.html")
        assert "origin page" in curl(lab.other, "http://cours.test/index.html")
        block_class(config, "6A")
        # Within a second: 6A's phone gets no address and no traffic; 5B's is untouched.
        assert wait_until(lambda: dig(lab, lab.client, "cours.test") != WAN_IP), portal.tail()
        assert curl(lab.client, "http://cours.test/index.html") == ""
        assert dig(lab, lab.other, "cours.test") == WAN_IP
        assert "origin page" in curl(lab.other, "http://cours.test/index.html")
    finally:
        portal.stop()
