"""The portal table, set commands and the reconcile plan (pure)."""

from __future__ import annotations

import pytest

from captive_portal import ruleset
from captive_portal.ruleset import ClientCounters, KernelState, Wanted

MAC = "02:aa:00:00:00:01"


def test_bad_settings_and_clients_are_refused() -> None:
    with pytest.raises(ruleset.RulesetError):
        ruleset.PortalNetwork("eth0; flush ruleset", "wan0", "10.0.0.1", 80)
    with pytest.raises(ruleset.RulesetError):
        ruleset.PortalNetwork("byod0", "wan0", "10.0.0.1", 80, rates=(0,))
    with pytest.raises(ruleset.RulesetError):
        ruleset.authorise("not-a-mac", "10.0.0.2", 60)
    with pytest.raises(ruleset.RulesetError):
        ruleset.authorise(MAC, "10.0.0.300", 60)
    with pytest.raises(ruleset.RulesetError):
        ruleset.authorise(MAC, "10.0.0.2", 0)


def test_authorise_is_one_element_per_set_with_timeout() -> None:
    commands = ruleset.authorise("02:AA:00:00:00:01", "10.0.0.2", 3600)
    up = commands[0]["add"]["element"]
    assert up["name"] == "auth_v4"
    assert up["elem"][0]["elem"] == {
        "val": {"concat": [MAC, "10.0.0.2"]},
        "timeout": 3600,
    }
    assert commands[1]["add"]["element"]["name"] == "auth_v4_down"
    v6 = ruleset.authorise(MAC, "FD77::2", 60)
    assert v6[0]["add"]["element"]["name"] == "auth_v6"
    assert v6[1]["add"]["element"]["elem"][0]["elem"]["val"] == "fd77::2"


def test_table_has_sets_not_per_client_rules() -> None:
    text = ruleset.render_table(
        ruleset.PortalNetwork("byod0", "wan0", "10.0.0.1", 8081, rates=(64, 500))
    )
    assert "set auth_v4" in text
    assert "set auth_v6" in text
    assert "counter" in text
    assert "tcp dport 443 reject with tcp reset" in text
    assert "policy drop" in text
    assert "add set inet preau_portal rate_64" in text
    assert "jump ratelimit" in text
    assert "limit rate over 500 kbytes/second" in text
    # Only the forward chain looks the counted sets up positively.
    prerouting = text.split("chain prerouting")[1].split("chain input")[0]
    assert "!= @auth_v4" in prerouting
    assert "@auth_v4 return" not in prerouting


def test_reconcile_adds_missing_removes_foreign_and_refreshes_extended() -> None:
    kernel = KernelState(
        clients=[
            ClientCounters(MAC, "10.0.0.2", 10, 20, expires_in=600),
            ClientCounters("02:bb:00:00:00:02", "10.0.0.3", 0, 0, expires_in=600),
        ],
        macs={MAC: 600, "02:bb:00:00:00:02": 600},
    )
    wanted = [Wanted(MAC, "10.0.0.2", 600), Wanted("02:cc:00:00:00:03", "10.0.0.4", 900)]
    commands, readded = ruleset.reconcile(kernel, wanted, {})
    assert readded == set()
    deleted = [c["delete"]["element"] for c in commands if "delete" in c]
    added = [c["add"]["element"] for c in commands if "add" in c]
    assert {d["name"] for d in deleted} == {"auth_v4", "auth_v4_down", "auth_mac"}
    assert deleted[0]["elem"] == [{"concat": ["02:bb:00:00:00:02", "10.0.0.3"]}]
    assert added[0]["elem"][0]["elem"]["val"] == {"concat": ["02:cc:00:00:00:03", "10.0.0.4"]}
    # Nothing to do when equal: reconcile is idempotent.
    same = KernelState(
        clients=[ClientCounters(MAC, "10.0.0.2", 0, 0, expires_in=590)], macs={MAC: 590}
    )
    assert ruleset.reconcile(same, [Wanted(MAC, "10.0.0.2", 600)], {}) == ([], set())
    # An extended session is put back with its new timeout; its counters restart.
    commands, readded = ruleset.reconcile(same, [Wanted(MAC, "10.0.0.2", 4200)], {})
    assert readded == {(MAC, "10.0.0.2")}
    timeouts = {
        c["add"]["element"]["name"]: c["add"]["element"]["elem"][0]["elem"]["timeout"]
        for c in commands
        if "add" in c
    }
    assert timeouts == {"auth_v4": 4200, "auth_v4_down": 4200, "auth_mac": 4200}


def test_reconcile_blocked_and_rate_sets() -> None:
    kernel = KernelState(
        clients=[ClientCounters(MAC, "10.0.0.2", 0, 0, 600)],
        blocked={"10.0.0.9": 100},
        rates={64: {"10.0.0.8"}},
    )
    commands, _ = ruleset.reconcile(
        kernel, [Wanted(MAC, "10.0.0.2", 600, rate=64)], {"10.0.0.2": 300}
    )
    summary = [
        (
            next(iter(c)),
            c[next(iter(c))]["element"]["name"],
            str(c[next(iter(c))]["element"]["elem"]),
        )
        for c in commands
    ]
    assert ("add", "blocked_v4", str([{"elem": {"val": "10.0.0.2", "timeout": 300}}])) in summary
    assert ("delete", "blocked_v4", str(["10.0.0.9"])) in summary
    assert ("delete", "rate_64", str(["10.0.0.8"])) in summary
    assert ("add", "rate_64", str([{"elem": {"val": "10.0.0.2", "timeout": 600}}])) in summary


def test_parse_table_reads_counters_of_both_families() -> None:
    listing = {
        "nftables": [
            {"metainfo": {}},
            {
                "set": {
                    "name": "auth_v4",
                    "elem": [
                        {
                            "elem": {
                                "val": {"concat": [MAC, "10.0.0.2"]},
                                "expires": 500,
                                "counter": {"packets": 3, "bytes": 300},
                            }
                        }
                    ],
                }
            },
            {
                "set": {
                    "name": "auth_v4_down",
                    "elem": [{"elem": {"val": "10.0.0.2", "counter": {"bytes": 9000}}}],
                }
            },
            {
                "set": {
                    "name": "auth_v6",
                    "elem": [{"elem": {"val": {"concat": [MAC, "fd77::2"]}, "expires": 500}}],
                }
            },
            {"set": {"name": "blocked_v4", "elem": [{"elem": {"val": "10.0.0.5", "expires": 60}}]}},
            {"set": {"name": "rate_64", "elem": ["10.0.0.2"]}},
        ]
    }
    state = ruleset.parse_table(listing)
    assert state.clients[0] == ClientCounters(MAC, "10.0.0.2", 300, 9000, 500)
    assert state.clients[1].ip == "fd77::2"
    assert state.blocked == {"10.0.0.5": 60}
    assert state.rates == {64: {"10.0.0.2"}}
