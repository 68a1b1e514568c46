"""Commands that work on the local data directory (``serve``, ``config``, ``keys``,
``dev-certs``, ``backup``, ``restore``, ``audit``): the ``--data-dir`` option and the settings
they load from it, the environment and their own options."""

from __future__ import annotations

import argparse
from pathlib import Path

from authority.process.config import Settings


def add_data_dir_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, help="data directory (AUTHORITY_DATA_DIR)")


def load_settings(ns: argparse.Namespace) -> Settings:
    """The settings, with the command's options (those it has) over the environment."""
    return Settings.load(
        data_dir=getattr(ns, "data_dir", None),
        listen=getattr(ns, "listen", None),
        redis_url=getattr(ns, "redis_url", None),
        log_format=getattr(ns, "log_format", None),
        log_level=getattr(ns, "log_level", None),
        ship_events=getattr(ns, "ship_events", None),
        role=getattr(ns, "role", None),
        workers=getattr(ns, "workers", None),
        clickhouse_url=getattr(ns, "clickhouse_url", None),
    )
