"""The centre's settings and the referent's: one documented precedence (pure, no I/O)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sync.policy import Bundle, BundleError, merge, refuse_box_local


def bundle(scope: str, name: str, **settings: tuple[object, bool]) -> Bundle:
    """Return a bundle setting dotted keys (written with __ for dots)."""
    return Bundle.model_validate(
        {
            "scope": scope,
            "name": name,
            "settings": {
                key.replace("__", "."): {"value": value, "locked": locked}
                for key, (value, locked) in settings.items()
            },
        }
    )


def test_the_narrowest_bundle_wins_and_local_wins_unless_locked() -> None:
    policy = merge(
        [
            bundle("site", "0750001A", filter__deny=(["site.example"], False)),
            bundle(
                "all", "all", filter__deny=(["all.example"], False), site__name=("Centre", False)
            ),
            bundle("group", "rep", filter__deny=(["group.example"], False)),
        ],
        {"site": {"name": "Collège local"}},
    )
    by_key = {s.key: s for s in policy.settings}
    assert by_key["filter.deny"].value == ["site.example"]
    assert by_key["filter.deny"].origin == "site:0750001A"
    assert by_key["filter.deny"].winner == "centre"
    # The referent set the name in preau.toml and the centre does not lock it.
    assert by_key["site.name"].winner == "local"
    assert by_key["site.name"].local_value == "Collège local"
    assert policy.overlay == {"filter": {"deny": ["site.example"]}}
    assert policy.bundles == ("all", "group:rep", "site:0750001A")


def test_a_lock_beats_the_local_file_and_a_narrower_unlocked_bundle() -> None:
    policy = merge(
        [
            bundle("all", "all", filter__deny=(["locked.example"], True)),
            bundle("site", "0750001A", filter__deny=(["site.example"], False)),
        ],
        {"filter": {"deny": ["local.example"]}},
    )
    (setting,) = policy.settings
    assert setting.value == ["locked.example"]
    assert setting.locked
    assert setting.winner == "centre"
    assert setting.local_value == ["local.example"]
    # Among locks, the narrowest.
    policy = merge(
        [
            bundle("all", "all", filter__deny=(["all.example"], True)),
            bundle("group", "rep", filter__deny=(["group.example"], True)),
        ],
        {},
    )
    assert policy.settings[0].value == ["group.example"]


def test_an_empty_policy_applies_nothing_and_a_change_changes_the_digest() -> None:
    assert merge([], {}).digest == ""
    one = merge([bundle("all", "all", filter__deny=(["a.example"], True))], {})
    two = merge([bundle("all", "all", filter__deny=(["b.example"], True))], {})
    unlocked = merge([bundle("all", "all", filter__deny=(["a.example"], False))], {})
    assert len({one.digest, two.digest, unlocked.digest}) == 3


@pytest.mark.parametrize(
    "key",
    [
        "site.data_dir",
        "state.path",
        "web.port",
        "web.host",
        "sync.poll_minutes",
        "logging",
        "sync.devices.ca_cert",  # a file of this box
        "sync.devices.passphrase_file",
    ],
)
def test_a_key_that_belongs_to_the_box_is_refused_whole(key: str) -> None:
    with pytest.raises(BundleError):
        refuse_box_local(key)
    with pytest.raises(ValidationError, match="propre à chaque boîtier"):
        bundle("all", "all", **{key.replace(".", "__"): ("x", True)})


@pytest.mark.parametrize("key", ["", "filter.", ".deny", "filter..deny"])
def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(BundleError, match="mal formée"):
        refuse_box_local(key)


@pytest.mark.parametrize(
    "key",
    [
        "sync.telemetry.remote_write_url",
        "sync.devices.ssid",
        "sync.devices.hidden",
        "sync.inventory_url",
    ],
)
def test_the_centre_may_set_where_figures_go_and_the_shared_wifi(key: str) -> None:
    refuse_box_local(key)  # no error
    assert bundle("group", "rep", **{key.replace(".", "__"): ("x", True)}).settings
