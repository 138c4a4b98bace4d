"""The centre hands apps to the schools' stores (#14 scope 2, #6.4, #7.37).

A bundle names apps; each package is a target of the signed repository, so
python-tuf checks it like the metadata. The box's store then takes it through
the same checks as a referent's upload, for the people the centre chose, and
keeps in step with every publication: a package that is not the one the
centre signed never reaches the store, and the last good policy stays.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from appliance.config import PreauConfig
from sync.policy import Bundle, merge
from tests.appstore.test_appstore import ipa, signed_apk
from tests.conftest import SCHOOL_UAI, PreauProcess, make_config, run_preau, write_config
from tests.sync.conftest import Centre, link_of, wait_for

pytestmark = pytest.mark.timeout(300)

APP = {
    "platform": "android", "name": "GeoGebra", "package_id": "org.geogebra.android",
    "version_name": "6.0", "size": 10,
}  # fmt: skip


def app(sha: str, assign: list[str], version: str = "6.0") -> dict[str, Any]:
    """Return a bundle's app entry as the centre signs it."""
    return {**APP, "version_name": version, "sha256": sha, "target": f"apps/{sha}/g.apk",
            "assign": assign}  # fmt: skip


def test_the_narrowest_bundle_names_an_app_and_a_person_is_never_a_target() -> None:
    everyone = Bundle.model_validate(
        {"scope": "all", "name": "all", "apps": [app("a" * 64, ["role:pupil"])]}
    )
    site = Bundle.model_validate(
        {"scope": "site", "name": SCHOOL_UAI, "apps": [app("b" * 64, ["class:6A"], "6.1")]}
    )
    merged = merge([site, everyone], {})
    [(chosen, origin)] = merged.apps
    assert (chosen.version_name, origin) == ("6.1", f"site:{SCHOOL_UAI}")
    assert merged.digest == ""  # apps alone change no setting: no config apply, no restart
    assert merged.apps_digest != merge([everyone], {}).apps_digest
    for assign in (["person:eleve.martin"], ["role:chef"], ["class:6 A"]):
        with pytest.raises(ValidationError):
            Bundle.model_validate({"scope": "all", "name": "all", "apps": [app("a" * 64, assign)]})
    with pytest.raises(ValidationError):
        Bundle.model_validate(
            {"scope": "all", "name": "all", "apps": [{**app("a" * 64, []), "target": "../x"}]}
        )


def centre_packages(config: PreauConfig) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    """Return the store's packages from the centre: name, version, SHA-256, assignments."""
    conn = sqlite3.connect(f"file:{config.state_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute(
            "SELECT id, name, version_name, sha256 FROM store_packages"
            " WHERE uploaded_by = 'centre' ORDER BY id"
        ).fetchall()
        return [
            (
                name, version, sha,
                sorted(conn.execute(
                    "SELECT kind, target FROM store_assignments WHERE package_id = ?", (pid,)
                ).fetchall()),
            )
            for pid, name, version, sha in rows
        ]  # fmt: skip
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def publish_apps(centre: Centre, *apps: tuple[str, bytes, str, str, str]) -> None:
    """Publish a bundle for every site with apps (file name, bytes, name, platform, assign)."""
    text = 'note = "Applications de l\'académie"\n'
    for filename, data, name, platform, assign in apps:
        (centre.folder / filename).write_bytes(data)
        text += (
            f'[[apps]]\nfile = "{filename}"\nname = "{name}"\n'
            f'package_id = "fr.academie.{name.lower()}"\nversion_name = "1.0"\n'
            f'platform = "{platform}"\nassign = [{assign}]\n'
        )
    centre.publish(text)


def test_the_centre_s_apps_reach_the_store_checked_and_stay_in_step(
    centre: Centre, tmp_path: Path, preau_factory: Callable[..., PreauProcess]
) -> None:
    config = make_config(
        tmp_path / "box", sync={"poll_minutes": 0.05, "report_minutes": 60},
        filter={"enabled": False},
    )  # fmt: skip
    config_path = write_config(config, tmp_path / "box.toml")
    enrolled = run_preau("sync", "enrol", centre.token(SCHOOL_UAI), config_path=config_path)
    assert enrolled.returncode == 0, enrolled.stderr
    apk, _certificate = signed_apk()
    sha = hashlib.sha256(apk).hexdigest()
    # A good APK, and an "APK" that is an iPhone app: the store refuses the second only.
    publish_apps(
        centre,
        ("geogebra.apk", apk, "Geogebra", "android", '"role:pupil", "class:6A"'),
        ("cahier.apk", ipa(), "Cahier", "android", '"school"'),
    )
    box = preau_factory(config, name="box")
    wait_for(lambda: bool(centre_packages(config)), box)
    assert centre_packages(config) == [
        ("Geogebra", "1.0", sha, [("class", "6A"), ("role", "pupil")])
    ]
    assert (config.site.data_dir / "store" / sha).read_bytes() == apk
    wait_for(lambda: len(link_of(config).central_apps) == 2, box)
    states = {a["name"]: a for a in link_of(config).central_apps}
    assert states["Geogebra"]["problem"] == ""
    assert "APK" in states["Cahier"]["problem"] % states["Cahier"]["problem_values"]

    # New assignments: the same package, reassigned, neither fetched nor hashed again.
    downloads = config.site.data_dir / "sync" / "targets"
    cached = list(downloads.glob("*geogebra.apk"))
    assert len(cached) == 1  # python-tuf's checked download of the first publication
    cached[0].unlink()
    before = link_of(config).policy_version
    publish_apps(centre, ("geogebra.apk", apk, "Geogebra", "android", '"school"'))
    wait_for(lambda: centre_packages(config) == [("Geogebra", "1.0", sha, [("school", "")])], box)
    assert not list(downloads.glob("*geogebra.apk"))
    # The store takes the packages before the link records the version: wait for both.
    wait_for(lambda: link_of(config).policy_version > before, box)

    # A publication whose package is not what the repository signs: refused whole.
    version = link_of(config).policy_version
    centre.cut()  # the box sees the publication only once its package is tampered with
    other = apk + b"\x00"  # a new version of the app
    publish_apps(centre, ("geogebra.apk", other, "Geogebra", "android", '"school"'))
    [stored] = (centre.central / "repository" / "targets" / "apps").glob(
        f"{hashlib.sha256(other).hexdigest()}/*"
    )
    stored.write_bytes(b"malware" + other[7:])  # same length, other bytes, on the CDN
    centre.restore()
    refused = "paquet %(target)s refusé : %(error)s"  # python-tuf: not the signed hash
    wait_for(lambda: link_of(config).last_error == refused, box)
    assert link_of(config).policy_stale
    assert link_of(config).last_error_values["target"].endswith("/geogebra.apk")
    assert "hash" in link_of(config).last_error_values["error"]
    assert link_of(config).policy_version == version
    assert centre_packages(config)[0][2] == sha  # the last good one stays

    # The centre withdraws its apps: the store follows, the file goes.
    centre.publish('note = "Plus d\'applications"\n')
    wait_for(lambda: centre_packages(config) == [], box)
    wait_for(lambda: not (config.site.data_dir / "store" / sha).exists(), box)
    assert box.process.poll() is None
    assert _restarts(box) == 1  # apps changed no setting: no service restarted


def _restarts(box: PreauProcess) -> int:
    return box.output().count("Préau running")


def test_a_bundle_naming_a_missing_package_is_refused_at_the_centre(
    centre: Centre, tmp_path: Path
) -> None:
    bundle = centre.folder / "bundle.toml"
    bundle.write_text('[[apps]]\nfile = "absent.apk"\nname = "X"\n')
    refused = centre.cli("publish", str(bundle), check=False)
    assert "absent.apk" in refused
    bundle.write_text('[[apps]]\nname = "X"\n')
    assert "file (le paquet) manque" in centre.cli("publish", str(bundle), check=False)
    (centre.folder / "x.apk").write_bytes(b"x")
    bundle.write_text(
        '[[apps]]\nfile = "x.apk"\nname = "X"\npackage_id = "x"\nversion_name = "1"\n'
        'platform = "android"\nassign = ["person:eleve.martin"]\n'
    )
    assert "assign" in centre.cli("publish", str(bundle), check=False)
    # Nothing was published: the repository holds no package.
    assert not (centre.central / "repository" / "targets" / "apps").exists()
