"""The portal table and set commands (pure)."""

from __future__ import annotations

import pytest

from captive_portal import ruleset


def test_bad_settings_and_clients_are_refused() -> None:
    with pytest.raises(ruleset.RulesetError):
        ruleset.PortalNetwork("eth0; flush ruleset", "wan0", "10.0.0.1", 80)
    with pytest.raises(ruleset.RulesetError):
        ruleset.authorise("not-a-mac", "10.0.0.2", 60)
    with pytest.raises(ruleset.RulesetError):
        ruleset.authorise("02:00:00:00:00:01", "10.0.0.300", 60)
    with pytest.raises(ruleset.RulesetError):
        ruleset.authorise("02:00:00:00:00:01", "10.0.0.2", 0)


def test_authorise_is_one_element_per_set_with_timeout() -> None:
    commands = ruleset.authorise("02:AA:00:00:00:01", "10.0.0.2", 3600)
    up = commands[0]["add"]["element"]
    assert up["name"] == "auth_v4"
    assert up["elem"][0]["elem"] == {
        "val": {"concat": ["02:aa:00:00:00:01", "10.0.0.2"]},
        "timeout": 3600,
    }
    assert commands[1]["add"]["element"]["name"] == "auth_v4_down"


def test_table_has_sets_not_per_client_rules() -> None:
    text = ruleset.render_table(ruleset.PortalNetwork("byod0", "wan0", "10.0.0.1", 8081))
    assert "set auth_v4" in text
    assert "counter" in text
    assert "tcp dport 443 reject with tcp reset" in text
    assert "policy drop" in text
