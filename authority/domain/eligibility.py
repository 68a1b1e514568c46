"""Who may be given keys: one rule for a single grant, a bulk issuance and a roster replacement.

An organisation issues keys only while it is approved; it issues them only to its own key
holders; and a holder whose processing is restricted at their request gets no new grants until
the restriction is lifted (privacy). Each refusal is a ``FailedPrecondition`` that names what to
change.
"""

from __future__ import annotations

from authority.domain.errors import FailedPrecondition
from authority.domain.model import HolderStatus, KeyHolder, Organisation, OrganisationStatus


def ensure_issues_keys(organisation: Organisation) -> None:
    """Raises ``FailedPrecondition`` unless ``organisation`` is approved."""
    if organisation.status is not OrganisationStatus.APPROVED:
        raise FailedPrecondition(
            f"organisation {organisation.organisation_id} is {organisation.status.value}: "
            "only approved organisations issue keys"
        )


def ensure_may_receive_grants(holder: KeyHolder, organisation_id: str) -> None:
    """Raises ``FailedPrecondition`` unless ``holder`` belongs to ``organisation_id`` and its
    processing is not restricted."""
    if holder.organisation_id != organisation_id:
        raise FailedPrecondition(
            f"key holder {holder.key_holder_id} belongs to another organisation than "
            f"{organisation_id}"
        )
    if holder.status is HolderStatus.RESTRICTED:
        raise restricted_holder(holder.key_holder_id)


def restricted_holder(holder_id: str) -> FailedPrecondition:
    """The refusal for a holder whose processing is restricted (also a bulk item's result)."""
    return FailedPrecondition(
        f"processing of key holder {holder_id} is restricted at their request: no new grants "
        "until it is lifted"
    )
