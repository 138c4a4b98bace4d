"""What every ``preau`` command group uses: the config, a core, the exit on failure.

The kernel's commands (:mod:`appliance.cli`) and each feature's command group
use these, so a feature's CLI never imports the kernel's command tree.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from appliance.cli_words import cli_gettext as cli_gettext
from appliance.config import ConfigError, PreauConfig, load_config
from appliance.core import Core
from appliance.i18n import N_
from appliance.identity.model import DirectoryError
from appliance.problems import Problem, UserError, problem_of
from appliance.scheduler.calendar import CalendarError
from appliance.state.db import StateError

if TYPE_CHECKING:
    from appliance.imports import ImportPreview

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])


def preview_or_commit(command: _F) -> _F:
    """Give an import command its ``--commit`` option (without it: a preview only)."""
    option = click.option(
        "--commit", is_flag=True, help=N_("Enregistre (sinon : aperçu seulement).")
    )
    return option(command)


def read_input(path: Path) -> bytes:
    """Return a file the command was given, or exit saying why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as err:
        fail(f"{path}: {err.strerror}", 2)


def fail(message: str | Problem | BaseException, code: int = 1) -> NoReturn:
    """Print a refusal in the shell's language (a plain string as it is) and exit."""
    _ = cli_gettext()
    text = message if isinstance(message, str) else problem_of(message).said(_)
    click.echo(click.style(_("erreur : "), fg="red", bold=True) + text, err=True)
    sys.exit(code)


def config(ctx: click.Context) -> PreauConfig:
    path: Path | None = ctx.obj["config_path"]
    try:
        return load_config(path)
    except ConfigError as err:
        fail(err, 2)


def rerun_hint(ctx: click.Context, arguments: str) -> str:
    """Return the command line that runs ``preau … ARGUMENTS`` on the same config as this one.

    As it was typed: ``.venv/bin/preau --config .demo/preau.toml demo …``, not a bare
    ``preau`` that may not be on PATH and, without ``--config``, opens another box's state.
    """
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("preau")
    if program.name != "preau":  # python -m appliance, a test's runner
        program = Path("preau")
    words = [_shown(program)]
    path: Path | None = ctx.obj["config_path"]
    if path is not None:
        words += ["--config", _shown(path)]
    return f"{shlex.join(words)} {arguments}"


def _shown(path: Path) -> str:
    """Return a path relative to the working folder when it lies inside it."""
    if path.is_absolute() and path.is_relative_to(Path.cwd()):
        return os.path.relpath(path)
    return str(path)


def with_core(
    config: PreauConfig,
    path: Path | None,
    body: Callable[[Core], Awaitable[_T]],
    *,
    reads_only: bool = False,
) -> _T:
    """Run ``body`` on an opened core; a command that ``reads_only`` never creates the state."""
    if reads_only and not config.state_path.exists():
        fail(
            Problem(
                N_(
                    "Aucun état dans %(path)s : ce boîtier n'a encore jamais démarré avec cette "
                    "configuration (vérifiez --config)."
                ),
                {"path": str(config.state_path)},
            ),
            2,
        )

    async def main() -> _T:
        core = Core(config, path)
        await core.async_open()
        try:
            return await body(core)
        finally:
            await core.async_close()

    return run(main())


def run_import(
    ctx: click.Context, preview: Callable[[Core], Awaitable[ImportPreview]], commit: bool
) -> None:
    """Show an import's preview; store it with ``commit`` (a refusal exits with code 2)."""
    settings = config(ctx)
    _ = cli_gettext()

    async def body(core: Core) -> None:
        try:
            shown = await preview(core)
        except UserError as err:
            fail(err, 2)
        for line in shown.lines:
            click.echo(line.said(_))
        if not commit:
            click.echo(_("Aperçu seulement : relancez avec --commit pour enregistrer."))
            return
        for line in await shown.store():
            click.echo(line.said(_))

    with_core(settings, ctx.obj["config_path"], body)


def run(coro: Coroutine[Any, Any, _T]) -> _T:
    try:
        return asyncio.run(coro)
    except StateError as err:
        _ = cli_gettext()
        fail(_("base d'état : %(error)s", error=problem_of(err).said(_)))
    except (DirectoryError, CalendarError) as err:
        fail(err)


# Loggers that print the parameters of every statement at DEBUG: password hashes,
# session digests and pupils' names would reach the journal (rule 6), so they never
# go below INFO whatever level the referent asks for.
STATEMENT_LOGGERS = ("aiosqlite",)


def setup_logging(ctx: click.Context, config: PreauConfig) -> None:
    logging.basicConfig(
        level=ctx.obj["log_level"] or config.logging.level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name in STATEMENT_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLogger().level))
