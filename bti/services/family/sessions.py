"""A family member's sign-in: the identity the family provider (ID-porten) vouched for, and a
server-side session of its own (``family_session``), never a staff session.

The person is recognised by an HMAC of the provider's ``pid`` claim under the installation's
key (``bti.services.accounts.oidc.subject_hmac``), stored in ``external_identity`` with no staff
account and the provider recorded as ``<issuer>#pid``, so a family identity can never match a
staff sign-in of the same provider. The identity number itself is never stored or logged.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bti.domain.family import FamilySession
from bti.domain.org import ExternalIdentity
from bti.domain.org import Municipality
from bti.domain.vocabulary import AuditAction
from bti.services.access import audit
from bti.services.accounts.auth import token_hash
from bti.services.accounts.oidc import subject_hmac

#: A family session ends after this long without a request, and after ``ABSOLUTE_TIMEOUT``.
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=4)
TOUCH_EVERY = timedelta(seconds=60)
#: The audit channel of every family read and write.
CHANNEL = "family"


@dataclass(frozen=True)
class FamilyActor:
    """Who a family session belongs to: the identity (never a name or number)."""

    identity_id: int
    municipality_id: int
    session_id: int


def family_provider_name(issuer: str, subject_claim: str) -> str:
    return f"{issuer}#{subject_claim}"


def record(session: Session, action: AuditAction, *, now: datetime, municipality_id: int,
           identity_id: int | None, case_id: int | None = None,
           object_type: str | None = None, object_id: int | None = None,
           basis: str | None = None, outcome: str = "allowed", request_id: str | None = None,
           **details: Any) -> None:
    """One audit row of a family read or write (``channel = "family"``, the identity's id)."""
    audit.record_system(session, action, now=now, municipality_id=municipality_id,
                        case_id=case_id, object_type=object_type, object_id=object_id,
                        basis=basis, outcome=outcome, request_id=request_id, channel=CHANNEL,
                        identity_id=identity_id, **details)


def identify(session: Session, *, municipality: Municipality, issuer: str, subject_claim: str,
             person: str, key: bytes, now: datetime) -> ExternalIdentity:
    """The identity of the person the family provider vouched for (``person``: the value of
    its ``pid`` claim), created on the first sign-in."""
    provider = family_provider_name(issuer, subject_claim)
    digest = subject_hmac(key, issuer, person)
    identity = session.scalar(select(ExternalIdentity).where(
        ExternalIdentity.provider == provider, ExternalIdentity.subject_hmac == digest))
    if identity is None:
        identity = ExternalIdentity(municipality_id=municipality.id, provider=provider,
                                    subject_hmac=digest, created_at=now, last_seen_at=now)
        session.add(identity)
        session.flush()
    identity.last_seen_at = now
    return identity


def start(session: Session, identity: ExternalIdentity, *, municipality_id: int,
          now: datetime, request_id: str | None = None) -> str:
    """A new family session; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(FamilySession(token_hash=token_hash(token), identity_id=identity.id,
                              municipality_id=municipality_id, created_at=now,
                              last_seen_at=now))
    record(session, AuditAction.FAMILY_SIGNED_IN, now=now, municipality_id=municipality_id,
           identity_id=identity.id, request_id=request_id)
    session.flush()
    return token


def resolve(session: Session, token: str | None, *, now: datetime) -> FamilyActor | None:
    """The family member behind a session token, or None if it ended or expired."""
    if not token:
        return None
    row = session.scalar(select(FamilySession).where(FamilySession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None:
        return None
    if now - row.last_seen_at > IDLE_TIMEOUT or now - row.created_at > ABSOLUTE_TIMEOUT:
        row.ended_at, row.end_reason = now, "expired"
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    return FamilyActor(identity_id=row.identity_id, municipality_id=row.municipality_id,
                       session_id=row.id)


def end(session: Session, token: str | None, *, now: datetime,
        request_id: str | None = None) -> None:
    """Sign out: the session ends on the server."""
    if not token:
        return
    row = session.scalar(select(FamilySession).where(FamilySession.token_hash == token_hash(token)))
    if row is None or row.ended_at is not None:
        return
    row.ended_at, row.end_reason = now, "logout"
    record(session, AuditAction.FAMILY_SIGNED_OUT, now=now,
           municipality_id=row.municipality_id, identity_id=row.identity_id,
           request_id=request_id)
