"""The `preau` CLI: help everywhere, local accounts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from appliance.cli_words import PreauCommand
from tests.conftest import PREAU, make_config, opened_core, run_preau, write_config


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["run"],
        ["config"],
        ["config", "check"],
        ["config", "defaults"],
        ["demo"],
        ["jobs", "list"],
        ["directory", "sync"],
        ["user", "add"],
        ["state", "migrate"],
    ],
)
def test_help_everywhere(args: list[str]) -> None:
    result = run_preau(*args, "--help")
    assert result.returncode == 0
    assert "Utilisation : preau" in result.stdout


def test_user_add_then_login_works(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    result = subprocess.run(
        [
            str(PREAU),
            "--config",
            str(path),
            "user",
            "add",
            "mme.referente",
            "--role",
            "referent",
            "--name",
            "Anne Referente",
        ],
        input="a long enough passphrase\na long enough passphrase\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "OK: mme.referente (referent)" in result.stdout
    short = subprocess.run(
        [
            str(PREAU),
            "--config",
            str(path),
            "user",
            "add",
            "x",
            "--role",
            "pupil",
            "--name",
            "X",
            "--password",
            "short",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert short.returncode == 2
    assert "mot de passe : au moins 8 caractères" in short.stderr
    english = run_preau(
        "user", "add", "y", "--role", "pupil", "--name", "Y", "--password", "short",
        config_path=path, env={"LANGUAGE": "en"},
    )  # fmt: skip
    assert english.returncode == 2
    assert "password: at least 8 characters" in english.stderr  # the refusal, translated
    jobs = run_preau("jobs", "list", config_path=path)
    assert jobs.returncode == 0


def test_state_migrate_brings_an_older_db_to_this_schema(tmp_path: Path) -> None:
    # The package's postinst runs it before restarting the units (image-build/deb).
    import sqlite3
    from contextlib import closing

    from appliance.state.db import schema_version, upgrade_schema

    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    config.state_path.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(config.state_path)) as conn:
        upgrade_schema(conn, target=schema_version() - 1)
    result = run_preau("--config", str(path), "state", "migrate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Base d'état à la version {schema_version()}."
    with closing(sqlite3.connect(config.state_path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_version()


async def test_cli_account_can_log_in(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    result = run_preau(
        "user",
        "add",
        "prof.x",
        "--role",
        "teacher",
        "--name",
        "Prof X",
        "--password",
        "another long passphrase",
        config_path=path,
    )
    assert result.returncode == 0, result.stderr
    async with opened_core(config) as core:
        outcome = await core.directory.authenticate("prof.x", "another long passphrase")
        assert outcome.role == "teacher"


def test_help_is_french_first_and_english_on_request() -> None:
    # Issue #12 scope 6: the command line's help goes through the same catalogues.
    french = run_preau("--help")
    assert french.returncode == 0, french.stderr
    assert "Utilisation : preau" in french.stdout
    assert "Préau, le boîtier de l'établissement scolaire." in french.stdout
    assert "Commandes" in french.stdout
    assert "Afficher cette aide et quitter." in french.stdout
    assert "Filtrage DNS : listes, explications, dérogations." in french.stdout
    english = run_preau("--help", env={"LANGUAGE": "en"})
    assert "Usage: preau" in english.stdout
    assert "Show this message and exit." in english.stdout
    assert "DNS filtering: lists, explanations, overrides." in english.stdout
    assert "Filtrage" not in english.stdout
    deep = run_preau("filter", "override", "add", "--help")
    assert "Vise une classe (par ex. 6A)." in deep.stdout
    assert "[obligatoire]" in deep.stdout  # Click's "required", in the shell's words
    assert "required" not in deep.stdout
    deep_en = run_preau("filter", "override", "add", "--help", env={"LC_ALL": "en_US.UTF-8"})
    assert "Target a class (e.g. 6A)." in deep_en.stdout
    assert "[required]" in deep_en.stdout


def test_every_command_and_option_has_translated_help() -> None:
    """A help text left out of the catalogues would show French to an English shell."""
    from appliance.cli import main
    from appliance.features import installed_features
    from appliance.i18n import Catalogues

    catalogues = Catalogues(
        ["appliance", *(f.translations for f in installed_features() if f.translations)]
    )
    seen = 0

    def walk(command: click.Command, path: str) -> None:
        nonlocal seen
        sources = command.__dict__.get("_preau_sources", {})
        help_text = sources.get("help", command.help)
        assert help_text, f"{path}: no help"
        assert catalogues.gettext("en", help_text) != help_text, f"{path}: {help_text!r}"
        assert isinstance(command, PreauCommand), f"{path}: not said in the shell's words"
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                text = param.__dict__.get("_preau_sources", {}).get("help", param.help)
                assert text, f"{path} {param.opts}: no help"
                assert catalogues.gettext("en", text) != text, f"{path} {param.opts}: {text!r}"
                seen += 1
        if isinstance(command, click.Group):
            # Through get_command: the features' commands are imported only when asked for.
            ctx = click.Context(command)
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None, f"{path} {name}: not found"
                walk(sub, f"{path} {name}")

    walk(main, "preau")
    assert seen >= 25


# What `preau run --log-level DEBUG` does before its services start, then one statement
# carrying a password hash through the state database's driver.
_DEBUG_RUN = """
import asyncio, logging, sys
import aiosqlite, click
from appliance import commands
from appliance.config import PreauConfig
ctx = click.Context(click.Command("run"), obj={"log_level": "DEBUG"})
commands.setup_logging(ctx, PreauConfig())
logging.getLogger("preau.test").debug("own debug line")
async def main() -> None:
    async with aiosqlite.connect(":memory:") as db:
        await db.execute("CREATE TABLE t (h TEXT)")
        await db.execute("INSERT INTO t VALUES (?)", ("$argon2id$v=19$secret",))
asyncio.run(main())
"""


def test_debug_logging_never_prints_statement_parameters() -> None:
    """At DEBUG the journal gets no password hash (the driver logs every statement's values)."""
    result = subprocess.run(
        [sys.executable, "-c", _DEBUG_RUN], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "own debug line" in result.stderr  # DEBUG still holds for Préau's own loggers
    assert "$argon2" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [["jobs", "list"], ["filter", "lists"], ["filter", "override", "list"], ["sync", "status"]],
)
def test_a_command_that_only_reads_never_creates_the_state(tmp_path: Path, args: list[str]) -> None:
    """#16 scope 3: `preau jobs list` on the wrong config used to create an empty state.db."""
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    result = run_preau(*args, config_path=path)
    assert result.returncode == 2, result.stdout
    assert "ce boîtier n'a encore jamais démarré avec cette configuration" in result.stderr
    assert str(config.state_path) in result.stderr
    assert not config.state_path.exists()
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_the_demo_s_hint_is_the_command_that_was_typed(tmp_path: Path) -> None:
    config = make_config(tmp_path / "data")
    path = write_config(config, tmp_path / "preau.toml")
    assert run_preau("demo", config_path=path).returncode == 0
    again = run_preau("demo", config_path=path)
    assert again.returncode == 0
    # The program as it was run (relative to the working folder), and the same config.
    assert f"{os.path.relpath(PREAU)} --config {path} demo --reset-passwords" in again.stdout
    # …and, once the box has a state, the command that only reads shows the jobs.
    listed = run_preau("jobs", "list", config_path=path)
    assert listed.returncode == 0, listed.stderr
    assert "dashboard-history" in listed.stdout
