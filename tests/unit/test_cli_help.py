"""`authority --help` lists every command group, and each group's own `--help` works."""

from __future__ import annotations

import argparse

import pytest

from authority.cli.main import COMMAND_GROUPS, build_parser, main

COMMANDS = (
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
    assert "{" + ",".join(COMMANDS) + "}" in out.replace("\n", "").replace(" ", "")
    for name in COMMANDS:
        assert f"    {name}" in out


def test_every_group_registers_its_commands_once() -> None:
    registered: list[str] = []
    for group in COMMAND_GROUPS:
        parser = argparse.ArgumentParser(prog="authority")
        group.register(parser.add_subparsers(dest="command", required=True))
        registered += list(_commands(parser))
    assert tuple(registered) == COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
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
