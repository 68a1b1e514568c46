"""Which part of the API a process serves: a plain value, light to import (the process roles
choose one before grpc is loaded); ``authority.api.server`` knows the services of each."""

from __future__ import annotations

import enum


class ApiSurface(enum.Enum):
    EVERY = "every"
    """Every service: unlocks, relays, directory, grants, keys, identity, privacy, access log."""

    ACCESS_LOG = "access-log"
    """The access log's services alone (queries and owner requests): a process that only ships."""

    GRANTS = "grants"
    """The grant service alone (imports and the other fleet calls): a bulk process."""
