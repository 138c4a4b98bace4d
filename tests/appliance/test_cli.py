"""The `preau` CLI: help everywhere, local accounts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
    ],
)
def test_help_everywhere(args: list[str]) -> None:
    result = run_preau(*args, "--help")
    assert result.returncode == 0
    assert "Usage: preau" in result.stdout


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
