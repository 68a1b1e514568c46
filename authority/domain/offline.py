"""Offline opening: how long an offline token may live, and which revocations must reach relays.

An offline token (a ``cnf`` token bound to the holder's device key) is verified by the relay with
no contact to the authority, for hours. Two rules keep that safe:

* **Its lifetime never outlasts what allowed it**: it expires at the earliest of issue + the
  offline lifetime, the end of the grant's validity, and the end of the schedule window it was
  issued in (a 06:00-09:00 grant's token does not open the door at 20:00).
* **Revocations reach relays through the site's revocation epoch**: every token carries the
  site's epoch; a relay refuses tokens older than the newest epoch it has seen (from a token or an
  authority-signed notice). The epoch is raised when something that may back a live offline token
  is taken away: a grant revoked, a holder suspended, a device key replaced. Only sites whose
  owner allows offline opening are bumped: elsewhere tokens live a minute, and each bump is a
  directory change every authority process applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from authority.domain.model import Door, Grant, GrantTarget, Site
from authority.domain.schedule import WeeklyWindow


def offline_token_expiry(grant: Grant, site: Site, now: datetime, lifetime: int) -> datetime:
    """When an offline token issued ``now`` under ``grant`` must stop opening the door."""
    end = min(now + timedelta(seconds=lifetime), grant.valid_until)
    if grant.windows:
        local = now.astimezone(site.zone)
        window_ends = [e for w in grant.windows if (e := window_end(w, local)) is not None]
        if window_ends:
            end = min(end, max(window_ends))
    return end


def window_end(window: WeeklyWindow, local: datetime) -> datetime | None:
    """The end of ``window``'s occurrence that contains ``local`` (site wall clock), or None.

    Adjoining windows (Mon 06-09 and Mon 09-12) are not merged: a token issued at 08:00 ends at
    09:00, the conservative answer."""
    if not window.contains(local):
        return None
    minute = local.hour * 60 + local.minute
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    started_today = local.isoweekday() in window.days and minute >= window.start_minute
    if window.wraps_midnight and started_today:
        midnight += timedelta(days=1)  # a night shift that began this evening ends tomorrow
    # Wall-clock arithmetic in the site's zone, then the instant: follows daylight saving.
    return (midnight + timedelta(minutes=window.end_minute)).replace(tzinfo=local.tzinfo)


def live_targets(grants: Iterable[Grant], now: datetime) -> list[GrantTarget]:
    """The targets of grants that may still back an offline token: not ended (an offline token
    never outlives its grant), revoked or not (a retried revocation bumps again: harmless)."""
    return [g.target for g in grants if g.valid_until > now]


def sites_to_bump(
    targets: Iterable[GrantTarget], *, doors: Mapping[str, Door], sites: Mapping[str, Site]
) -> list[str]:
    """The offline-allowed sites that ``targets`` reach (a door target reaches its site), sorted.

    ``doors`` and ``sites`` resolve the ids the targets name; unknown ids reach nothing."""
    site_ids: set[str] = set()
    for target in targets:
        if target.site_id is not None:
            site_ids.add(target.site_id)
        elif target.door_id is not None and (door := doors.get(target.door_id)) is not None:
            site_ids.add(door.site_id)
    return sorted(
        s for s in site_ids if (site := sites.get(s)) is not None and site.offline_allowed
    )
