"""Config: one validated TOML file, errors that name the key (ground rule 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import (
    ConfigError,
    build_config,
    load_config,
    parse_config,
)
from appliance.config_render import render_defaults
from tests.conftest import run_preau


def test_defaults_render_and_parse_back_to_the_defaults() -> None:
    text = render_defaults()
    assert parse_config(text) == build_config()
    # Every key is documented by a comment line just above it.
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if "=" in line and not line.startswith("#"):
            assert lines[index - 1].startswith(("#", "[")), line


def test_misspelt_key_names_the_key_path() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config("[web]\nprot = 8080\n", "preau.toml")
    assert "preau.toml: web.prot: clé inconnue" in str(err.value)


def test_wrong_value_names_key_and_reason() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config('[scheduler.nightly]\nhours = "25:00-02:00"\n', "x.toml")
    assert "x.toml: scheduler.nightly.hours:" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config('[site]\ntimezone = "Europe/Paname"\n', "x.toml")
    assert "site.timezone" in str(err.value)
    assert "fuseau horaire inconnu" in str(err.value)


def test_cleartext_ldap_is_not_an_option() -> None:
    # CARMO #7.54: LDAPS or StartTLS only.
    with pytest.raises(ConfigError) as err:
        parse_config('[identity.ldap]\nsecurity = "none"\n', "x.toml")
    assert "identity.ldap.security" in str(err.value)


def test_toml_syntax_error_names_the_file() -> None:
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML"):
        parse_config("[web\n", "broken.toml")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


def test_cli_check_misspelt_key_exits_non_zero(tmp_path: Path) -> None:
    path = tmp_path / "preau.toml"
    path.write_text('[identity.ldap]\nbase_dm = "dc=example,dc=org"\n')
    result = run_preau("config", "check", str(path))
    assert result.returncode != 0
    assert "identity.ldap.base_dm" in result.stderr
    assert "clé inconnue" in result.stderr


def test_cli_check_reports_missing_referenced_files(tmp_path: Path) -> None:
    path = tmp_path / "preau.toml"
    path.write_text(f'[scheduler]\nholidays_ics = "{tmp_path}/vacances.ics"\n')
    result = run_preau("config", "check", str(path))
    assert result.returncode == 2
    assert "scheduler.holidays_ics" in result.stderr


def test_cli_check_accepts_the_printed_defaults(tmp_path: Path) -> None:
    defaults = run_preau("config", "defaults")
    assert defaults.returncode == 0
    path = tmp_path / "preau.toml"
    path.write_text(defaults.stdout)
    result = run_preau("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK")


def test_cli_run_with_bad_config_fails_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "preau.toml"
    path.write_text("[web]\nport = 70000\n")
    result = run_preau("run", config_path=path)
    assert result.returncode == 2
    assert "web.port" in result.stderr
