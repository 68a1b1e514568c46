"""Caller credentials: ``Bearer <id>.<secret>`` parsing and digests."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authority.domain.credentials import (
    Principal,
    Role,
    digest,
    new_admin_key,
    new_credential,
    new_organisation_key,
    parse_bearer,
)
from authority.domain.errors import Unauthenticated

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"  # 36 characters


@pytest.mark.parametrize(
    "cid", ["kh_abcdefghijkmnpqr", "ak_abcdefghijkmnpqr", "adm_abcdefghijkmnp"]
)
def test_parse_bearer(cid: str) -> None:
    presented = parse_bearer(f"Bearer {cid}.{SECRET}")
    assert presented.credential_id == cid
    assert presented.digest == hashlib.sha256(SECRET.encode()).digest()
    assert presented.is_holder == cid.startswith("kh_")


@pytest.mark.parametrize(
    "header",
    [
        f"bearer kh_abc.{SECRET}",
        f"BEARER kh_abc.{SECRET}",
        f"Bearer  kh_abc.{SECRET}",
        f"Bearer kh_abc.{SECRET}  ",
    ],
)
def test_parse_bearer_tolerates_case_and_spaces(header: str) -> None:
    assert parse_bearer(header).credential_id == "kh_abc"


def test_secret_may_contain_dots() -> None:
    presented = parse_bearer(f"Bearer kh_abc.{SECRET}.x")
    assert presented.credential_id == "kh_abc"
    assert presented.digest == digest(SECRET + ".x")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic kh_abc.{SECRET}",
        f"kh_abc.{SECRET}",
        f"Bearer\tkh_abc.{SECRET}",
        f"Token kh_abc.{SECRET}",
        "Bearer kh_abc",
        "Bearer kh_abc.",
        f"Bearer .{SECRET}",
        "Bearer kh_abc." + "s" * 15,
        "Bearer kh_abc." + "s" * 129,
        "Bearer kh_" + "a" * 62 + "." + SECRET,
        f"Bearer xx_abc.{SECRET}",
        f"Bearer KH_abc.{SECRET}",
        f"Bearer abc.{SECRET}",
        "Bearer kh_abc." + "ø" * 20,
    ],
)
def test_parse_bearer_rejects_malformed(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        parse_bearer(header)


def test_length_bounds_are_inclusive() -> None:
    assert parse_bearer("Bearer kh_" + "a" * 61 + "." + SECRET).credential_id == "kh_" + "a" * 61
    assert parse_bearer("Bearer kh_a." + "s" * 16).digest == digest("s" * 16)
    assert parse_bearer("Bearer kh_a." + "s" * 128).digest == digest("s" * 128)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_parse_bearer_only_ever_raises_unauthenticated(header: str) -> None:
    try:
        presented = parse_bearer(header)
    except Unauthenticated:
        return
    assert presented.credential_id.startswith(("kh_", "ak_", "adm_"))
    assert len(presented.digest) == 32


def test_new_credential_digest_matches_what_is_presented() -> None:
    credential, stored = new_credential("kh_abcdefghijkmnpqr")
    cid, _, secret = credential.partition(".")
    assert cid == "kh_abcdefghijkmnpqr"
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert stored == hashlib.sha256(secret.encode()).digest() == digest(secret)
    presented = parse_bearer(f"Bearer {credential}")
    assert presented.credential_id == cid
    assert presented.matches(stored)
    other, other_stored = new_credential("kh_abcdefghijkmnpqr")
    assert other != credential
    assert not presented.matches(other_stored)
    tampered = ("B" if secret[0] == "A" else "A") + secret[1:]
    assert not parse_bearer(f"Bearer {cid}.{tampered}").matches(stored)


@pytest.mark.parametrize(
    ("make", "prefix"), [(new_organisation_key, "ak_"), (new_admin_key, "adm_")]
)
def test_new_keys(make: Callable[[], tuple[str, str, bytes]], prefix: str) -> None:
    cid, credential, stored = make()
    assert cid.startswith(prefix)
    assert credential.startswith(cid + ".")
    presented = parse_bearer("Bearer " + credential)
    assert presented.credential_id == cid
    assert presented.matches(stored)
    assert not presented.is_holder


def test_principal_json_round_trip() -> None:
    p = Principal(role=Role.ORGANISATION, credential_id="ak_x", organisation_id="org_y")
    assert Principal.from_json("ak_x", p.to_json()) == p
    admin = Principal(role=Role.ADMIN, credential_id="adm_x")
    assert Principal.from_json("adm_x", admin.to_json()) == admin
