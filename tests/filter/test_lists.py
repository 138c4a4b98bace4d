"""Reading and compiling lists: UT1 semantics and common formats."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from filter.compiled_list import CompiledList, compile_list
from filter.lists import (
    EXCEPTION,
    ListError,
    ListStats,
    normalise,
    read_list,
    read_ut1,
)
from filter.policy import GroupPolicy, decide, list_matches
from filter.wire import TYPE_A
from tests.filter.conftest import write_ut1_tree


def pairs(chunks: object) -> list[tuple[bytes, str]]:
    return [(name, category) for category, names in chunks for name in names]  # type: ignore[attr-defined]


def compiled(tmp_path: Path, entries: list[tuple[bytes, str]]) -> CompiledList:
    path = tmp_path / "list.pfl"
    path.write_bytes(compile_list([(c, [n]) for n, c in entries], {"name": "t"}))
    return CompiledList("t", path)


def test_ut1_tree_counts_what_dns_cannot_enforce(tmp_path: Path) -> None:
    stats = ListStats()
    entries = pairs(read_ut1(write_ut1_tree(tmp_path), stats))
    assert (b"porn-site.test", "adult") in entries
    assert stats.domains == {"adult": 2, "gambling": 1, "malware": 1, "social_networks": 1}
    assert stats.not_enforceable == {"ip": 1, "urls": 4, "expressions": 1}


def test_ut1_tarball_reads_like_the_tree(tmp_path: Path) -> None:
    tree = write_ut1_tree(tmp_path / "src")
    tarball = tmp_path / "blacklists.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tree, arcname="blacklists")
    assert pairs(read_ut1(tarball, ListStats())) == pairs(read_ut1(tree, ListStats()))


def test_not_a_list_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tarball")
    with pytest.raises(ListError, match=r"junk\.tar\.gz"):
        list(read_ut1(junk, ListStats()))
    with pytest.raises(ListError, match="aucun fichier <catégorie>/domains"):
        list(read_ut1(tmp_path, ListStats()))


def test_hosts_and_adblock_formats(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n0.0.0.0 ads.test tracker.test # x\n10.0.0.1 lan.test\n")
    stats = ListStats()
    assert [n for n, _ in pairs(read_list(hosts, "hosts", "ads", stats))] == [
        b"ads.test",
        b"tracker.test",
    ]
    assert stats.not_enforceable == {"hosts-redirect": 1}
    adblock = tmp_path / "adblock.txt"
    adblock.write_text("! comment\n||ads.test^\n||x.test^$third-party\n/banner/*\n")
    stats = ListStats()
    assert [n for n, _ in pairs(read_list(adblock, "adblock", "ads", stats))] == [b"ads.test"]
    assert stats.not_enforceable == {"adblock-rule": 2}


def test_compiled_lookup_and_suffix_semantics(tmp_path: Path) -> None:
    lst = compiled(
        tmp_path,
        [(b"porn-site.test", "adult"), (b"both.test", "adult"), (b"both.test", "gambling")],
    )
    try:
        assert lst.categories_of(b"porn-site.test") == ("adult",)
        assert set(lst.categories_of(b"both.test")) == {"adult", "gambling"}
        assert lst.categories_of(b"www.porn-site.test") == ()
        matches = list(list_matches([lst])(b"a.b.c.porn-site.test"))
        assert matches == [("t", b"porn-site.test", ("adult",))]
    finally:
        lst.close()


def test_corrupt_artifact_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.pfl"
    path.write_bytes(b"PREAUFL1" + b"\xff" * 20)
    with pytest.raises(ListError, match="pas une liste compilée par Préau"):
        CompiledList("bad", path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.TEST.", b"example.test"),
        ("*.ads.test", b"ads.test"),
        ("école.test", b"xn--cole-9oa.test"),
        ("bad_label-.test", None),
        ("single", None),
        ("a" * 64 + ".test", None),
    ],
)
def test_normalise(text: str, expected: bytes | None) -> None:
    assert normalise(text) == expected


def test_adblock_exceptions_unblock_the_excepted_subdomain(tmp_path: Path) -> None:
    """Issue #11: ``@@||name^`` was dropped, so an excepted subdomain stayed blocked."""
    adblock = tmp_path / "ads.txt"
    adblock.write_text("||ads.test^\n@@||ok.ads.test^\n||other.test^\n")
    stats = ListStats()
    path = tmp_path / "ads.pfl"
    path.write_bytes(compile_list(read_list(adblock, "adblock", "ads", stats), {"name": "ads"}))
    assert stats.domains == {"ads": 2, EXCEPTION: 1}
    lst = CompiledList("ads", path)
    group = GroupPolicy("g", frozenset({"ads"}))
    try:
        matches = list_matches([lst])

        def action(name: bytes) -> str:
            return decide(name, TYPE_A, group, [], matches).action

        assert action(b"ads.test") == "block"
        assert action(b"x.ads.test") == "block"
        assert action(b"ok.ads.test") == "allow"
        assert action(b"cdn.ok.ads.test") == "allow"
        assert action(b"other.test") == "block"
    finally:
        lst.close()


def test_squid_style_entries_block_the_domain_and_its_subdomains(tmp_path: Path) -> None:
    listed = tmp_path / "squid.txt"
    listed.write_text(".example.org\nplain.test\n-bad-.test\n")
    stats = ListStats()
    names = [n for n, _ in pairs(read_list(listed, "domains", "adult", stats))]
    assert names == [b"example.org", b"plain.test"]
    # What could not be read is named, not only counted.
    assert stats.not_enforceable == {"malformed": 1}
    assert stats.examples == {"malformed": ["-bad-.test"]}


def test_a_ut1_alias_is_a_category_from_a_tarball_as_from_a_tree(tmp_path: Path) -> None:
    tree = write_ut1_tree(tmp_path / "src")
    (tree / "porn").symlink_to("adult")
    tarball = tmp_path / "blacklists.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tree, arcname="blacklists")
    from_tree = pairs(read_ut1(tree, ListStats()))
    from_tarball = pairs(read_ut1(tarball, ListStats()))
    assert (b"porn-site.test", "porn") in from_tree
    assert sorted(from_tarball) == sorted(from_tree)


def test_an_empty_tarball_is_a_clear_error(tmp_path: Path) -> None:
    tarball = tmp_path / "empty.tar.gz"
    with tarfile.open(tarball, "w:gz"):
        pass
    with pytest.raises(ListError, match="aucun fichier <catégorie>/domains"):
        list(read_ut1(tarball, ListStats()))
