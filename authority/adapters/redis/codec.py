"""How domain records are stored in Redis: compact JSON (readable with redis-cli)."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from typing import Any

from authority.domain.model import (
    Door,
    Grant,
    GrantTarget,
    HolderStatus,
    KeyHolder,
    Organisation,
    OrganisationStatus,
    Purpose,
    Site,
)
from authority.domain.schedule import WeeklyWindow

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _ts(dt: datetime) -> int:
    return int(dt.timestamp())


def _dt(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def encode_organisation(o: Organisation) -> bytes:
    return _dumps(
        {
            "id": o.organisation_id,
            "name": o.name,
            "cvr": o.cvr,
            "se": o.se,
            "pb": o.public_body,
            "p": o.purpose.value,
            "st": o.status.value,
            "sr": o.status_reason,
            "c": _ts(o.created_at),
        }
    ).encode()


def decode_organisation(raw: bytes | str) -> Organisation:
    d = json.loads(raw)
    return Organisation(
        organisation_id=d["id"],
        name=d["name"],
        cvr=d["cvr"],
        se=d["se"],
        public_body=d["pb"],
        purpose=Purpose(d["p"]),
        status=OrganisationStatus(d["st"]),
        status_reason=d["sr"],
        created_at=_dt(d["c"]),
    )


def encode_site(s: Site) -> bytes:
    """The site's record; its revocation epoch is a counter of its own (``{dir}:epoch``)."""
    return _dumps(
        {
            "id": s.site_id,
            "addr": s.address,
            "owner": s.owner_id,
            "tz": s.time_zone,
            "off": s.offline_allowed,
            "blk": sorted(s.blocked_organisations),
        }
    ).encode()


def decode_site(raw: bytes | str, epoch: int = 0) -> Site:
    d = json.loads(raw)
    return Site(
        site_id=d["id"],
        address=d["addr"],
        owner_id=d["owner"],
        time_zone=d["tz"],
        offline_allowed=d["off"],
        blocked_organisations=frozenset(d["blk"] or ()),
        revocation_epoch=epoch,
    )


def encode_door(door: Door) -> bytes:
    d: dict[str, str] = {
        "id": door.door_id,
        "site": door.site_id,
        "relay": door.relay_id,
        "label": door.label,
    }
    if door.relay_public_key is not None:  # absent when unset: older records stay byte-equal
        d["rpk"] = door.relay_public_key.hex()
    return _dumps(d).encode()


def decode_door(raw: bytes | str) -> Door:
    d = json.loads(raw)
    rpk = d.get("rpk")
    return Door(
        door_id=d["id"],
        site_id=d["site"],
        relay_id=d["relay"],
        label=d["label"],
        relay_public_key=bytes.fromhex(rpk) if rpk else None,
    )


def encode_epoch_change(site_id: str, epoch: int) -> bytes:
    """A changelog record: the site's revocation epoch is now ``epoch``."""
    return _dumps({"site": site_id, "ep": epoch}).encode()


def decode_epoch_change(raw: bytes | str) -> tuple[str, int]:
    d = json.loads(raw)
    return str(d["site"]), int(d["ep"])


def encode_holder(h: KeyHolder) -> bytes:
    return _dumps(
        {
            "id": h.key_holder_id,
            "org": h.organisation_id,
            "st": h.status.value,
            "c": _ts(h.created_at),
        }
    ).encode()


def decode_holder(raw: bytes | str) -> KeyHolder:
    d = json.loads(raw)
    return KeyHolder(
        key_holder_id=d["id"],
        organisation_id=d["org"],
        status=HolderStatus(d["st"]),
        created_at=_dt(d["c"]),
    )


def _grant_dict(g: Grant) -> dict[str, Any]:
    return {
        "id": g.grant_id,
        "h": g.key_holder_id,
        "d": g.target.door_id,
        "s": g.target.site_id,
        "o": g.organisation_id,
        "p": g.purpose.value,
        "vf": _ts(g.valid_from),
        "vu": _ts(g.valid_until),
        "w": [[sorted(w.days), w.start_minute, w.end_minute] for w in g.windows],
        "rv": _ts(g.revoked_at) if g.revoked_at is not None else None,
    }


def _grant_from_dict(d: dict[str, Any]) -> Grant:
    return Grant(
        grant_id=d["id"],
        key_holder_id=d["h"],
        target=GrantTarget(door_id=d["d"], site_id=d["s"]),
        organisation_id=d["o"],
        purpose=Purpose(d["p"]),
        valid_from=_dt(d["vf"]),
        valid_until=_dt(d["vu"]),
        windows=tuple(WeeklyWindow(frozenset(w[0]), w[1], w[2]) for w in d["w"] or ()),
        revoked_at=_dt(d["rv"]) if d["rv"] is not None else None,
    )


def encode_grant(grant: Grant) -> bytes:
    """One grant as a JSON object (the element type of a grant list)."""
    return _dumps(_grant_dict(grant)).encode()


def encode_grant_list(grants: list[Grant]) -> bytes:
    """All grants of one holder for one target (``d:<door>`` or ``s:<site>``), in one field."""
    return _dumps([_grant_dict(g) for g in grants]).encode()


def decode_grant_list(raw: bytes | str | None) -> list[Grant]:
    if not raw:
        return []
    return [_grant_from_dict(d) for d in json.loads(raw)]


@functools.lru_cache(maxsize=32_768)
def _decode_grant_tuple(raw: bytes) -> tuple[Grant, ...]:
    return tuple(decode_grant_list(raw))


def decode_grant_list_cached(raw: bytes | None) -> list[Grant]:
    """Hot path: decoding costs ~13 us per grant, so decoded lists are memoised by their exact
    bytes. Keyed by content, not by holder, this cannot serve stale data: a revocation changes
    the stored bytes and so misses the cache."""
    return list(_decode_grant_tuple(raw)) if raw else []


def decode_holder_status(raw: bytes) -> HolderStatus:
    return _holder_status(raw)


@functools.lru_cache(maxsize=32_768)
def _holder_status(raw: bytes) -> HolderStatus:
    return HolderStatus(json.loads(raw)["st"])
