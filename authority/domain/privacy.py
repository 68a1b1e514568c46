"""Personal data of key holders and the data subject's rights, as plain rules (GDPR).

A key holder is known everywhere else by a random pseudonym (``kh_…``); the person behind it,
their ``PersonProfile`` (name, phone, e-mail, CPR, the phone's Bluetooth id), lives only in the
person store, encrypted per person (``authority.adapters.redis.person_store``). Erasing a person
destroys their data key (crypto-shredding): every copy of the ciphertext becomes unreadable, and
what stays (access-log rows carrying the pseudonym) points at nobody.

Rules here: what a profile may hold and how it is validated, consents with their text version,
the one-year rule's boundary, and what an erasure leaves behind in the ledger.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from authority.domain.errors import FailedPrecondition, InvalidArgument
from authority.domain.model import validate_text

INACTIVITY_PERIOD = timedelta(days=365)
"""The one-year rule: a holder not using the product for this long (and administering no door
unit) is erased. Exactly 365 days after the last use, not 366: "at the latest 12 months"."""
MAX_ERASURE_DELAY_DAYS = 30
"""An erasure request completes within a month (the policies' promise)."""

CONSENT_PHONE_LOOKUP = "phone_lookup"
"""The person may be found by their phone number (a household sharing a key to them). Only while
this consent is in force does the phone index hold their number's keyed hash."""

_PHONE_RE = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL_RE = re.compile(r"[^@\s]{1,64}@[^@\s]{1,253}\.[^@\s.]{2,63}")
_CPR_RE = re.compile(r"[0-9]{6}-?[0-9]{4}")
_BLUETOOTH_RE = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Za-z._:-]{1,64}")
_PURPOSE_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_VERSION_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonProfile:
    """What the operator holds about the person behind a pseudonym. Empty string: not held
    (data minimisation: collect only what the purpose needs; CPR only where a customer
    requires it)."""

    name: str = ""
    phone: str = ""
    """E.164, e.g. ``+4512345678``."""
    email: str = ""
    cpr: str = ""
    """Danish personal identity number, ``DDMMYY-SSSS``."""
    bluetooth_id: str = ""
    """The phone's Bluetooth id (business product)."""

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "cpr": self.cpr,
            "bluetooth_id": self.bluetooth_id,
        }

    @property
    def categories(self) -> list[str]:
        """Which kinds of personal data are held (for reports: never the values)."""
        return [k for k, v in self.as_dict().items() if v]


def normalise_phone(phone: str) -> str:
    """``+45 12 34 56 78``, ``0045…`` and 8 Danish digits all become ``+4512345678``."""
    digits = re.sub(r"[\s().-]", "", phone)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif re.fullmatch(r"[0-9]{8}", digits):
        digits = "+45" + digits
    if not _PHONE_RE.fullmatch(digits):
        raise InvalidArgument(
            f"phone must be an international number such as +4512345678 (or 8 Danish digits); "
            f"got {len(phone)} characters that are not one"
        )
    return digits


def new_profile(
    *, name: str = "", phone: str = "", email: str = "", cpr: str = "", bluetooth_id: str = ""
) -> PersonProfile:
    """Validate a profile. Error messages never repeat the values (they are personal data)."""
    name = validate_text(name, field_name="profile.name", max_len=200, required=False)
    phone = normalise_phone(phone) if phone.strip() else ""
    email = email.strip()
    if email and not _EMAIL_RE.fullmatch(email):
        raise InvalidArgument("profile.email is not an e-mail address (name@domain.tld)")
    cpr = cpr.strip()
    if cpr:
        if not _CPR_RE.fullmatch(cpr):
            raise InvalidArgument("profile.cpr must be 10 digits, DDMMYY-SSSS")
        cpr = cpr.replace("-", "")
        cpr = f"{cpr[:6]}-{cpr[6:]}"
    bluetooth_id = bluetooth_id.strip()
    if bluetooth_id and not _BLUETOOTH_RE.fullmatch(bluetooth_id):
        raise InvalidArgument(
            "profile.bluetooth_id must be a MAC-style address (AA:BB:CC:DD:EE:FF) or 1-64 "
            "characters of letters, digits and . _ : -"
        )
    return PersonProfile(name=name, phone=phone, email=email, cpr=cpr, bluetooth_id=bluetooth_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    """A consent the person gave to one purpose, under one version of the text they were shown."""

    purpose: str
    text_version: str
    given_at: datetime
    withdrawn_at: datetime | None = None

    def in_force(self, at: datetime) -> bool:
        """Given before ``at`` and not withdrawn by then: withdrawal counts from its moment on."""
        return self.given_at <= at and (self.withdrawn_at is None or at < self.withdrawn_at)


def validate_consent_purpose(purpose: str) -> str:
    if not _PURPOSE_RE.fullmatch(purpose):
        raise InvalidArgument(
            "purpose must be 1-40 characters of a-z 0-9 _, starting with a letter "
            f"(e.g. {CONSENT_PHONE_LOOKUP!r}); got {purpose[:60]!r}"
        )
    return purpose


def validate_text_version(version: str) -> str:
    if not _VERSION_RE.fullmatch(version):
        raise InvalidArgument(
            "text_version must be 1-32 characters of letters, digits and . _ - (the version of "
            f"the consent text the person was shown, e.g. '2027-01'); got {version[:40]!r}"
        )
    return version


class ErasureReason(StrEnum):
    REQUEST = "request"
    """The person asked (right to be forgotten)."""
    INACTIVITY = "inactivity"
    """The one-year rule."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErasureRecord:
    """One line of the erasure ledger: which pseudonym was erased, when and why. Holds no
    personal data (the pseudonym points at nobody once the data key is gone), so it can be kept
    for good and re-applied after any restore."""

    holder_id: str
    erased_at: datetime
    reason: ErasureReason


def inactive(last_use: datetime, now: datetime, period: timedelta = INACTIVITY_PERIOD) -> bool:
    """Whether the one-year rule applies: ``period`` or more has passed since the last use."""
    return now - last_use >= period


def refuse_while_administering(holder_id: str, door_units: list[str]) -> None:
    """A person administering a door unit cannot be erased (the unit could be attached to
    someone else without their consent): they must dismount it first."""
    if door_units:
        raise FailedPrecondition(
            f"key holder {holder_id} administers door unit(s) {', '.join(sorted(door_units))}: "
            "dismount them first (PrivacyService.DismountDoorUnit), then ask again"
        )
