"""`preau filter import-*` as a referent meets it (issue #11): clear errors, no silent no-ops."""

from __future__ import annotations

from pathlib import Path

from appliance.config import PreauConfig
from tests.conftest import make_config, run_preau, write_config


def _config(tmp_path: Path) -> Path:
    config: PreauConfig = make_config(tmp_path / "data")
    return write_config(config, tmp_path / "preau.toml")


def test_an_empty_tree_is_refused_in_words_not_a_traceback(tmp_path: Path) -> None:
    path = _config(tmp_path)
    empty = tmp_path / "ut1"
    empty.mkdir()
    result = run_preau("filter", "import-ut1", str(empty), config_path=path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "aucun fichier <catégorie>/domains" in result.stderr
    (empty / "adult").mkdir()
    (empty / "adult" / "domains").write_text("")
    result = run_preau("filter", "import-ut1", str(empty), config_path=path)
    assert result.returncode == 2
    assert "aucun domaine dedans ; rien n'a été changé" in result.stderr
    english = run_preau(
        "filter", "import-ut1", str(empty), config_path=path, env={"LANG": "en_GB.UTF-8"}
    )
    assert "no domain in it; nothing was changed" in english.stderr


def test_a_list_must_say_its_category_and_is_warned_when_no_group_denies_it(
    tmp_path: Path,
) -> None:
    path = _config(tmp_path)
    listed = tmp_path / "extra.txt"
    listed.write_text(".casino.example\nnot a domain\n")
    missing = run_preau("filter", "import-list", "extra", str(listed), config_path=path)
    assert missing.returncode == 2
    assert "--category" in missing.stderr
    idle = run_preau(
        "filter", "import-list", "extra", str(listed), "--category", "bingo", config_path=path
    )
    assert idle.returncode == 0, idle.stderr
    assert "aucun groupe ne refuse bingo" in idle.stderr
    assert "'not a domain'" in idle.stdout  # the line that was left out is named
    denied = run_preau(
        "filter", "import-list", "extra", str(listed), "--category", "gambling", config_path=path
    )
    assert denied.returncode == 0, denied.stderr
    assert "aucun groupe" not in denied.stderr
    assert "1 domaines compilés" in denied.stdout


def test_config_defaults_show_the_keys_of_list_entries() -> None:
    shown = run_preau("config", "defaults")
    assert shown.returncode == 0
    assert "# [[filter.networks]]\n# cidr = (required)" in shown.stdout
    assert "# [[filter.static_clients]]\n# address = (required)" in shown.stdout
