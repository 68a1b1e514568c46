"""`authority --help` lists every command, each command's own `--help` works, and a command
loads only its own group's module."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from authority.cli.main import COMMANDS, build_parser, main

LISTED = (
    "serve", "config", "keys", "dev-certs", "demo", "org", "site", "door", "relay", "holder",
    "grant", "unlock", "health", "grants", "policy", "authz", "account", "login", "logout",
    "session", "activation", "login-policy", "credential", "logs", "owner-requests", "audit",
    "privacy", "backup", "restore",
)  # fmt: skip


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_top_level_help_lists_every_command_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: authority [-h]")
    assert "{" + ",".join(LISTED) + "}" in out.replace("\n", "").replace(" ", "")
    for name in LISTED:
        assert f"    {name}" in out


def test_every_command_is_defined_by_its_group_module() -> None:
    assert tuple(COMMANDS) == LISTED
    groups = {command.group for command in COMMANDS.values()}
    for group in groups:
        defined = set(importlib.import_module(group).COMMANDS)
        assert defined == {name for name, c in COMMANDS.items() if c.group == group}, group


@pytest.mark.parametrize("command", LISTED)
def test_each_command_help_works(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: authority {command} [-h]")


def test_every_subcommand_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    for command, parser in _commands(build_parser()).items():
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            continue
        for verb in _commands(parser):
            with pytest.raises(SystemExit) as exited:
                main([command, verb, "--help"])
            assert exited.value.code == 0, (command, verb)
            assert capsys.readouterr().out.startswith(f"usage: authority {command} {verb} ")


def test_help_loads_no_command_group() -> None:
    probe = (
        "import sys\n"
        "from authority.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('authority.cli.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "['authority.cli.main', 'authority.cli.output']"
