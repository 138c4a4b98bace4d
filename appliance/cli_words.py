"""The command line's help in the shell's language, French first.

Design: Click takes each command's and option's help when the command tree
is built (at import), before anyone knows the shell's language. So the help
is written as French message ids marked ``N_`` (``help=N_("…")``), and
:meth:`PreauGroup.main`, the entry point, says the whole tree once in the
language :func:`cli_gettext` reads from the environment (LANGUAGE, LC_ALL,
LC_MESSAGES, LANG; French when none names English). Click's own words
(the usage line, the section titles, the help option, "required") are said
by :class:`PreauCommand` and :class:`PreauGroup`, which every command of the
tree uses: the kernel's root group gives its subcommands these classes, and
a feature's group is declared with ``cls=PreauGroup``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any

import click

from appliance.features import installed_features, resolve
from appliance.i18n import N_, Catalogues, Gettext, language_of

LANGUAGE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def cli_gettext() -> Gettext:
    """Return ``_`` in the shell's language (LANGUAGE, LC_ALL, LC_MESSAGES, LANG; else French)."""
    chosen = next((os.environ[name] for name in LANGUAGE_VARIABLES if os.environ.get(name)), "")
    return _gettext_for(language_of(None, chosen.replace(":", ",")))


@functools.cache
def _gettext_for(lang: str) -> Gettext:
    features = installed_features()
    catalogues = Catalogues(
        ["appliance", *(f.translations for f in features if f.translations is not None)]
    )
    return catalogues.gettext_for(lang)


def _say(thing: object, attribute: str, say: Gettext) -> None:
    # The French source is kept on the object: a second run (the tests run
    # the tree in one process, in both languages) translates from it again.
    sources: dict[str, object] = thing.__dict__.setdefault("_preau_sources", {})
    source = sources.setdefault(attribute, getattr(thing, attribute))
    if isinstance(source, str) and source:
        setattr(thing, attribute, say(source))


def say_tree(command: click.Command, say: Gettext) -> None:
    """Say every help text of ``command`` and its subcommands through ``say``."""
    _say(command, "help", say)
    _say(command, "short_help", say)
    for param in command.params:
        if isinstance(param, click.Option):
            _say(param, "help", say)
            _say(param, "prompt", say)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            say_tree(sub, say)


class PreauCommand(click.Command):
    """A command whose usage line, section titles and help option are in the shell's words."""

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the usage line, titled in the shell's language."""
        _ = cli_gettext()
        pieces = self.collect_usage_pieces(ctx)
        formatter.write_usage(ctx.command_path, " ".join(pieces), prefix=_("Utilisation :") + " ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the options (and, for a group, its commands) under titles in the shell's words."""
        _ = cli_gettext()
        required = _("obligatoire") + "]"
        records = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and isinstance(param, click.Option):
                spec, text = record
                records.append((spec, text.replace("required]", required)))
        if records:
            with formatter.section(_("Options")):
                formatter.write_dl(records)

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        """Return the help option, its own help in the shell's language."""
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = cli_gettext()(N_("Afficher cette aide et quitter."))
        return option


class PreauGroup(PreauCommand, click.Group):
    """A group of commands, said in the shell's language; its subcommands are too.

    ``later`` names commands ``"module:attribute"`` that are imported only when
    one runs or the help lists them (the features' commands: see
    :mod:`appliance.features`), so ``preau run filter`` never imports the web
    pages that ``preau sync`` needs.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Make the group, with no command named for later yet."""
        super().__init__(*args, **kwargs)
        self.later: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Return the names of every command, those not imported yet too."""
        return sorted({*self.commands, *self.later})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Return the named command, importing it (and saying its help) on first use."""
        if cmd_name not in self.commands and cmd_name in self.later:
            command = resolve(self.later[cmd_name])
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise TypeError(f"{self.later[cmd_name]} is not the command {cmd_name}")
            say_tree(command, cli_gettext())
            self.add_command(command)
        return super().get_command(ctx, cmd_name)

    command_class = PreauCommand
    group_class = type  # a subgroup is a PreauGroup as well

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the options, then the commands."""
        super().format_options(ctx, formatter)
        self.format_commands(ctx, formatter)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Write the commands and their short help, under a title in the shell's language."""
        rows = []
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max((len(name) for name in names), default=0)
        for name in names:
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section(cli_gettext()(N_("Commandes"))):
                formatter.write_dl(rows)

    def main(self, args: Sequence[str] | None = None, *extra: Any, **kwargs: Any) -> Any:
        """Say the tree's help in the shell's language, then run the command line."""
        say_tree(self, cli_gettext())
        return super().main(args, *extra, **kwargs)
