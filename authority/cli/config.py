"""``authority config``: the effective settings (environment, options, defaults), secrets
redacted."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from authority.cli.local_settings import add_data_dir_option, load_settings
from authority.cli.output import EXIT_OK, add_json_option, new_table, print_json, show
from authority.process.config import Settings


def cmd_config(ns: argparse.Namespace) -> int:
    values = load_settings(ns).redacted()
    if ns.json:
        print_json(values)
        return EXIT_OK
    table = new_table(
        "authority configuration (secrets redacted)",
        ("setting", "environment", "value", "meaning"),
        overflow=True,
    )
    for name, env, _default, doc in Settings.describe():
        table.add_row(name, env, str(values[name]), doc)
    show(table)
    return EXIT_OK


def _config_options(p: argparse.ArgumentParser) -> None:
    add_data_dir_option(p)
    add_json_option(p)
    p.set_defaults(func=cmd_config)


COMMANDS: dict[str, Callable[[argparse.ArgumentParser], None]] = {"config": _config_options}
"""Each command's options and handler, on the parser ``authority.cli.main`` made for it."""
